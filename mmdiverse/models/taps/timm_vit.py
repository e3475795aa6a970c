"""Tap for ViT-like timm models (ViT, DeiT, ...) in ``TIMMBackbone``."""

from typing import Optional, Tuple

import torch.nn as nn

from .attention import capture_timm_attention, check_timm_attention
from .builder import register_tap
from .timm_tap import TimmTap
from .token import TokenTap


@register_tap(infer=False)
class TimmViTTap(TimmTap, TokenTap):
    """Tap of a ViT-like timm model (it has ``patch_embed``, ``blocks``,
    ``norm`` and ``num_prefix_tokens``); see :class:`TokenTap`.

    Blocks are ``blocks.0`` ... ``blocks.{L-1}``; ``num_prefix_tokens``
    (class, distillation, register tokens) are dropped. ``last`` is the
    output of ``norm``, ``last_pre_norm`` that of the last block; the grid
    comes from the input size and ``patch_embed``. Attention of the chosen
    blocks is captured by switching that block's ``attn.fused_attn`` off
    (timm's own unfused branch) and reading the input of its ``attn_drop``.
    """

    is_token_model = True
    block_prefix = 'blocks'
    capture_attention = staticmethod(capture_timm_attention)
    check_attention = staticmethod(check_timm_attention)

    @property
    def blocks(self) -> nn.Module:
        return self.timm_model.blocks

    @property
    def num_prefix_tokens(self) -> int:
        return int(self.timm_model.num_prefix_tokens)

    def final_norm(self) -> nn.Module:
        return self.timm_model.norm

    def input_size(self) -> Optional[Tuple[int, int]]:
        size = getattr(self.timm_model.patch_embed, 'img_size', None)
        if size is None:
            return None
        return (size, size) if isinstance(size, int) else tuple(int(s) for s in size)

    def _grid(self, image_hw: Tuple[int, int]) -> Tuple[int, int]:
        embed = self.timm_model.patch_embed
        if hasattr(embed, 'dynamic_feat_size'):
            return tuple(int(s) for s in embed.dynamic_feat_size(image_hw))
        patch = embed.patch_size
        patch = (patch, patch) if isinstance(patch, int) else tuple(patch)
        return (image_hw[0] // patch[0], image_hw[1] // patch[1])

    def _install_grid(self, hooks, state):
        def on_embed(_module, args):
            state['hw'] = self._grid(tuple(args[0].shape[-2:]))

        hooks.pre_hook(self.timm_model.patch_embed, on_embed)
