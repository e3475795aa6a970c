"""The one resize of absolute position embeddings (image size changes).

An mmpretrain ViT's ``pos_embed`` is ``(1, extra + H * W, C)`` (``extra``:
class / distillation tokens), a Swin's ``absolute_pos_embed``
``(1, H * W, C)``. When a checkpoint's patch grid differs from the model's,
the grid part is interpolated with mmpretrain's ``resize_pos_embed`` in the
backbone's ``interpolate_mode`` (bicubic by default), the extra tokens kept:
the function mmpretrain's own ``load_state_dict`` hooks
(``VisionTransformer._prepare_pos_embed``,
``SwinTransformer._prepare_abs_pos_embed``) call, so a plain
``init_cfg=dict(type='Pretrained')`` and the strict backbone transfer
(:func:`mmdiverse.checkpoint.load_pretrained_backbone`) give the same
embedding. As in mmpretrain's ViT hook, a class-token entry is dropped when
the target has no class token.
"""

import math

import torch
import torch.nn as nn

#: State-dict names of absolute position embeddings (mmpretrain ViT, Swin).
POS_EMBED_KEYS = ('pos_embed', 'absolute_pos_embed')


def resize_position_embedding(
    backbone: nn.Module, key: str, value: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """Interpolate a checkpoint's position embedding to the backbone's grid.

    Args:
        backbone: The target backbone: mmpretrain's (``patch_embed.init_out_size``,
            ``num_extra_tokens``, ``cls_token``, ``interpolate_mode``) or mmseg's
            MAE / BEiT (``patch_shape``; bicubic, as its own resize).
        key: ``'pos_embed'`` or ``'absolute_pos_embed'``.
        value: ``(1, extra + h * w, C)`` from the checkpoint.
        target: The backbone's own ``(1, extra' + H * W, C)``.

    Returns:
        Tensor: ``(1, extra' + H * W, C)``.

    Raises:
        ValueError: not a ``(1, L, C)`` embedding of the target's width, or
            the grid is not square.
    """
    # Imported on use: mmpretrain.models pulls in mmcv, which ``import
    # mmdiverse`` must not import before installing the mmcv._ext stand-in.
    from mmpretrain.models.utils import resize_pos_embed

    if value.dim() != 3 or target.dim() != 3 or value.shape[-1] != target.shape[-1]:
        raise ValueError('not a (1, L, C) position embedding of the same width')
    dst_hw = tuple(_patch_grid(backbone))
    extra = getattr(backbone, 'num_extra_tokens', None)
    # mmseg's ViT-family backbones (its MAE / BEiT) keep no count: the
    # entries beyond the grid are the extra tokens.
    extra = int(target.shape[1] - dst_hw[0] * dst_hw[1] if extra is None else extra)
    if key == 'pos_embed' and getattr(backbone, 'cls_token', None) is None:
        extra = 0
    src_tokens = value.shape[1] - extra
    if (
        math.isqrt(src_tokens) ** 2 != src_tokens
        and extra == 0
        and math.isqrt(src_tokens - 1) ** 2 == src_tokens - 1
    ):
        # The checkpoint has a class-token entry the target does not use.
        value, src_tokens = value[:, 1:], src_tokens - 1
    side = math.isqrt(src_tokens)
    if side * side != src_tokens:
        raise ValueError(
            f'{value.shape[1]} entries with {extra} extra tokens are not a square patch grid'
        )
    if dst_hw[0] * dst_hw[1] + extra != target.shape[1]:
        raise ValueError(f'target grid {dst_hw} does not match {tuple(target.shape)}')
    mode = getattr(backbone, 'interpolate_mode', 'bicubic')
    return resize_pos_embed(value, (side, side), dst_hw, mode, extra)


def _patch_grid(backbone: nn.Module):
    """``(H, W)`` patch grid of an mmpretrain (``init_out_size``) or mmseg
    (``patch_shape``) ViT-family backbone."""
    grid = getattr(getattr(backbone, 'patch_embed', None), 'init_out_size', None)
    grid = grid if grid is not None else getattr(backbone, 'patch_shape', None)
    if grid is None:
        raise ValueError(
            f'{type(backbone).__name__} states no patch grid '
            '(patch_embed.init_out_size or patch_shape)'
        )
    return grid
