"""Tap for timm models wrapped by mmpretrain ``TIMMBackbone``."""
from typing import List, Optional, Tuple

import torch.nn as nn

from .attention import capture_timm_attention, check_timm_attention
from .base import register_tap
from .cnn import CNNTap


@register_tap(priority=30)
class TimmTap(CNNTap):
    """Tap of ``TIMMBackbone(model_name=...)``. Layer names are relative to
    ``backbone.timm_model``.

    **Token models** (the timm model has ``patch_embed``, ``blocks``,
    ``norm`` and ``num_prefix_tokens``: ViT, DeiT, ...): blocks are
    ``blocks.0`` ... ``blocks.{L-1}``; ``num_prefix_tokens`` (class,
    distillation, register tokens) are dropped; ``first`` enters block
    ``first_layer`` (default 0, alias ``patch_embed``); ``last`` is the
    output of ``norm``; the grid comes from the input size and
    ``patch_embed.patch_size``. Attention of the chosen blocks is captured
    by switching that block's ``attn.fused_attn`` off (timm's own unfused
    branch) and reading the input of its ``attn_drop``; ``qkv_weights``
    splits every ``blocks.i.attn.qkv``.

    **Other models** (CNNs) behave as :class:`CNNTap` on the backbone's last
    output feature map (``features_only=False`` with the classifier removed
    returns the unpooled map; ``features_only=True`` returns a pyramid whose
    last level is used). Models whose tokens are neither (e.g. timm Swin's
    NHWC maps) are not supported.
    """

    @classmethod
    def matches(cls, backbone: nn.Module) -> bool:
        from mmpretrain.models.backbones import TIMMBackbone
        return isinstance(backbone, TIMMBackbone)

    def _root(self) -> nn.Module:
        return self.backbone.timm_model

    @property
    def is_token_model(self) -> bool:
        model = self._root()
        return all(hasattr(model, a) for a in ('patch_embed', 'blocks',
                                               'norm', 'num_prefix_tokens'))

    @property
    def supports_attention(self) -> bool:
        return self.is_token_model

    @property
    def supports_weights(self) -> bool:
        return self.is_token_model

    @property
    def layer_names(self) -> List[str]:
        if not self.is_token_model:
            return super().layer_names
        return [f'blocks.{i}' for i in range(len(self._root().blocks))]

    def extra_layer_names(self):
        return {'patch_embed': 0} if self.is_token_model else {}

    def default_first_layer(self):
        return 0 if self.is_token_model else -1

    def _resolve_other_name(self, name):
        if self.is_token_model:
            return None
        return super()._resolve_other_name(name)

    def valid_layers_message(self) -> str:
        if self.is_token_model:
            return super(CNNTap, self).valid_layers_message()
        return super().valid_layers_message()

    def token_stride(self) -> Optional[Tuple[int, int]]:
        """The last feature's ``reduction`` from timm's ``feature_info``."""
        info = getattr(self._root(), 'feature_info', None)
        if callable(getattr(info, 'reduction', None)):     # features_only models
            reduction = info.reduction()[-1]
        elif isinstance(info, list) and info and 'reduction' in info[-1]:
            reduction = info[-1]['reduction']
        else:
            return None
        return int(reduction), int(reduction)

    def _check_first_compatible(self, key: str) -> None:
        if not self.is_token_model:    # token models: every block has the same width
            super()._check_first_compatible(key)

    def input_size(self) -> Optional[Tuple[int, int]]:
        size = getattr(getattr(self._root(), 'patch_embed', None), 'img_size', None)
        if not self.is_token_model or size is None:
            return None
        return (size, size) if isinstance(size, int) else tuple(int(s) for s in size)

    def _check_attention_layer(self, index: int) -> None:
        check_timm_attention(self._root().blocks[index].attn,
                             f'{self.cfg_key}.attn_layers: blocks.{index}')

    def _grid(self, image_hw):
        embed = self._root().patch_embed
        if hasattr(embed, 'dynamic_feat_size'):
            return tuple(int(s) for s in embed.dynamic_feat_size(image_hw))
        patch = embed.patch_size
        patch = (patch, patch) if isinstance(patch, int) else tuple(patch)
        return (image_hw[0] // patch[0], image_hw[1] // patch[1])

    def _install(self, installer, out, first, last, attn_layers, per_layer):
        if not self.is_token_model:
            return super()._install(installer, out, first, last, attn_layers,
                                    per_layer)
        model = self._root()
        prefix = int(model.num_prefix_tokens)
        state = {'hw': None}

        def on_embed(_module, args):
            state['hw'] = self._grid(tuple(args[0].shape[-2:]))

        installer.pre_hook(model.patch_embed, on_embed)

        if first:
            def on_first(_module, args):
                out.first = args[0][:, prefix:]
                out.first_hw = state['hw']

            installer.pre_hook(model.blocks[self.first_layer], on_first)

        if last:
            def on_last(_module, _args, output):
                out.last = output[:, prefix:]
                out.last_hw = state['hw']

            installer.forward_hook(model.norm, on_last)

        self._install_token_blocks(installer, out, model.blocks, prefix, state, per_layer,
                                   attn_layers, capture_timm_attention)

    def qkv_weights(self):
        if not self.is_token_model:
            return super().qkv_weights()
        return [w for index, block in enumerate(self._root().blocks)
                for w in self._split_qkv(block.attn.qkv,
                                         f'blocks.{index}.attn')]
