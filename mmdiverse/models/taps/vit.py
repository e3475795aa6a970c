"""Tap for mmpretrain ``VisionTransformer`` and its subclasses (DeiT)."""
from typing import List, Tuple

import torch.nn as nn

from .attention import capture_mmpretrain_mha, check_mmpretrain_mha
from .base import BaseTap, register_tap


@register_tap(priority=10)
class ViTTap(BaseTap):
    """Tap of mmpretrain ``VisionTransformer`` and its subclasses such as
    ``DistilledVisionTransformer`` (DeiT).

    Blocks are ``layers.0`` ... ``layers.{L-1}``. The ``num_extra_tokens``
    leading tokens (class, distillation) are dropped from every token tap.

    * ``first``: the tokens entering block ``first_layer`` (default 0: the
      patch embedding plus position embedding, after ``pre_norm``; alias
      ``'patch_embed'``).
    * ``last``: the output of the final norm ``ln1`` (``final_norm=True``)
      or of the last block, whatever ``out_type`` the backbone returns.
    * ``attn``: the ``(B, H, N, N)`` probabilities of the chosen blocks (``N``
      counts the class tokens); only those blocks leave fused attention.
    * ``qkv_weights``: every block's ``attn.qkv`` split into q, k, v.
    """
    supports_attention = True
    supports_weights = True

    @classmethod
    def matches(cls, backbone: nn.Module) -> bool:
        from mmpretrain.models.backbones import VisionTransformer
        return isinstance(backbone, VisionTransformer)

    @property
    def layer_names(self) -> List[str]:
        return [f'layers.{i}' for i in range(len(self.backbone.layers))]

    def extra_layer_names(self):
        return {'patch_embed': 0}

    @property
    def num_extra_tokens(self) -> int:
        return int(getattr(self.backbone, 'num_extra_tokens', 0))

    def token_stride(self) -> Tuple[int, int]:
        return tuple(int(s) for s in self.backbone.patch_embed.projection.stride)

    def _check_attention_layer(self, index: int) -> None:
        check_mmpretrain_mha(self.backbone.layers[index].attn,
                             f'{self.cfg_key}.attn_layers: layers.{index}')

    def _install(self, installer, out, first, last, attn_layers, per_layer):
        backbone = self.backbone
        extra = self.num_extra_tokens
        state = {'hw': None}

        def on_patch_embed(_module, _args, output):
            state['hw'] = tuple(int(s) for s in output[1])

        installer.forward_hook(backbone.patch_embed, on_patch_embed)

        if first:
            def on_first(_module, args):
                out.first = args[0][:, extra:]
                out.first_hw = state['hw']

            installer.pre_hook(backbone.layers[self.first_layer], on_first)

        if last:
            if getattr(backbone, 'final_norm', False):
                last_module = backbone.ln1
            else:
                last_module = backbone.layers[-1]

            def on_last(_module, _args, output):
                out.last = output[:, extra:]
                out.last_hw = state['hw']

            installer.forward_hook(last_module, on_last)

        self._install_token_blocks(installer, out, backbone.layers, extra, state, per_layer,
                                   attn_layers, capture_mmpretrain_mha)

    def qkv_weights(self):
        weights = []
        for index, layer in enumerate(self.backbone.layers):
            weights += self._split_qkv(layer.attn.qkv, f'layers.{index}.attn')
        return weights
