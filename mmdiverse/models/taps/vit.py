"""Tap for mmpretrain ``VisionTransformer`` and its subclasses (DeiT)."""

from typing import Tuple

import torch.nn as nn

from .attention import capture_mmpretrain_mha, check_mmpretrain_mha
from .builder import register_tap
from .token import TokenTap


@register_tap(priority=10)
class ViTTap(TokenTap):
    """Tap of mmpretrain ``VisionTransformer`` and its subclasses such as
    ``DistilledVisionTransformer`` (DeiT); see :class:`TokenTap`.

    Blocks are ``layers.0`` ... ``layers.{L-1}``; the ``num_extra_tokens``
    leading tokens (class, distillation) are dropped.

    * ``first`` (block 0): ``pre_norm(drop_after_pos(patch_embed(x) +
      pos_embed))``, patch part; ``pre_norm`` is the identity unless the
      backbone was built with ``pre_norm=True`` (DeiT never calls it).
    * ``last``: the output of ``ln1`` (``final_norm=True``), else of the last
      block, whatever ``out_type`` the backbone returns.
    * ``last_pre_norm``: the last block's output (the input of ``ln1``).
    * ``attn``: the blocks' ``MultiheadAttention`` switches from
      ``F.scaled_dot_product_attention`` to the explicit softmax only for
      the chosen blocks (:func:`~mmdiverse.models.taps.attention.
      capture_mmpretrain_mha`).
    """

    block_prefix = 'layers'
    capture_attention = staticmethod(capture_mmpretrain_mha)
    check_attention = staticmethod(check_mmpretrain_mha)

    @classmethod
    def matches(cls, backbone: nn.Module) -> bool:
        from mmpretrain.models.backbones import VisionTransformer

        return isinstance(backbone, VisionTransformer)

    @property
    def blocks(self) -> nn.Module:
        return self.backbone.layers

    @property
    def num_prefix_tokens(self) -> int:
        return int(getattr(self.backbone, 'num_extra_tokens', 0))

    def final_norm(self):
        return self.backbone.ln1 if getattr(self.backbone, 'final_norm', False) else None

    def token_stride(self) -> Tuple[int, int]:
        return tuple(int(s) for s in self.backbone.patch_embed.projection.stride)

    def _install_grid(self, hooks, state):
        def on_patch_embed(_module, _args, output):
            # mmcv PatchEmbed returns (tokens, (h, w)) with Python ints.
            state['hw'] = (int(output[1][0]), int(output[1][1]))

        hooks.forward_hook(self.backbone.patch_embed, on_patch_embed)
