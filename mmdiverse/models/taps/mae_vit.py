"""Tap for mmpretrain ``MAEViT``, the encoder of MAE pretraining."""

import torch.nn as nn

from .builder import register_tap
from .vit import ViTTap


@register_tap(priority=5)
class MAEViTTap(ViTTap):
    """Tap of mmpretrain ``MAEViT`` (`Masked Autoencoders Are Scalable
    Vision Learners <https://arxiv.org/abs/2111.06377>`_); see
    :class:`ViTTap`.

    In MAE's masked forward the blocks see the class token and the visible
    patch tokens only (``(B, 1 + n_vis, d)``, ``n_vis = n (1 - mask_ratio)``,
    in the order of the random masking's ``ids_keep``), so ``first`` (the
    input of block ``first_layer``) and ``last`` (after the final norm) are
    exactly those visible tokens, the same set in the same order for every
    layer. They are not a grid: ``first_hw`` and ``last_hw`` are None. The
    decoder (MAE's neck) and its mask tokens are outside the backbone, so no
    tap reads them. A forward without masking (``mask=None``, as
    ``MAE.extract_feat``) is the stock ViT forward on the full grid.
    """

    @classmethod
    def matches(cls, backbone: nn.Module) -> bool:
        from mmpretrain.models.selfsup.mae import MAEViT

        return isinstance(backbone, MAEViT)

    def _install_grid(self, hooks, state):
        super()._install_grid(hooks, state)
        skip = self.num_prefix_tokens

        def on_first_block(_module, args):
            hw = state['hw']
            if hw is not None and args[0].shape[1] - skip != hw[0] * hw[1]:
                state['hw'] = None  # the visible tokens of a masked forward

        # Registered before the token hooks of TokenTap._install: runs first.
        hooks.pre_hook(self.blocks[0], on_first_block)
