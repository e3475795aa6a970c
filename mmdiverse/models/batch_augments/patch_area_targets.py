"""Per-patch CutMix targets from the pasted box's area in every patch.

Pure tensor functions (no state, no Python loop over patches, no host sync,
any device) used by :class:`~mmdiverse.models.batch_augments.PatchCutMix`:

1. :func:`box_patch_fractions`: the share of every patch covered by the
   pasted box, ``(B, n)``;
2. :func:`pairing_index`: which image each image is mixed with;
3. :func:`patch_soft_targets`: the ``(B, n, K)`` per-patch soft targets.

Conventions follow mmpretrain's ``CutMix`` (from timm): a box is
``(y1, y2, x1, x2)`` in pixels, as ``CutMix.cutmix_bbox_and_lam`` returns it
(already clipped to the image), rows ``y1:y2`` and columns ``x1:x2`` of
image ``index[b]`` are pasted into image ``b``, and the image-level target
is ``lam * y_b + (1 - lam) * y_index[b]`` with
``lam = 1 - box area / (H W)`` (:func:`box_lam`; mmpretrain's
``correct_lam``). Patches are in row-major order, as ViT tokens.

Papers: `Vision Transformers with Patch Diversification
<https://arxiv.org/abs/2104.12753>`_ (Gong et al. 2021: every patch token is
trained on the label of the image its pixels come from) and `The Principle
of Diversity <https://arxiv.org/abs/2203.06345>`_ (Chen et al. 2022,
Diverse-ViT: a box in pixels, a boundary patch's target is the area share of
each source inside it, images paired with their mirror in the batch). See
docs/fidelity.md.
"""

from typing import Optional, Sequence, Tuple, Union

import torch

#: ``box_alignment`` values: ours (default) and Diverse-ViT's.
BOX_ALIGNMENTS = ('patch', 'pixel')
#: ``pairing`` values: mmpretrain's (default) and Diverse-ViT's.
PAIRINGS = ('permutation', 'mirror')

BoxLike = Union[torch.Tensor, Sequence[float]]


def _pair(value, name: str) -> Tuple[int, int]:
    if isinstance(value, int):
        value = (value, value)
    value = tuple(int(v) for v in value)
    if len(value) != 2 or min(value) < 1:
        raise ValueError(f'{name} must be a positive int or (h, w), got {value}')
    return value


def _grid(img_hw, patch_hw) -> Tuple[Tuple[int, int], Tuple[int, int], Tuple[int, int]]:
    (img_h, img_w), (ph, pw) = (_pair(img_hw, 'img_hw'), _pair(patch_hw, 'patch_hw'))
    if img_h % ph or img_w % pw:
        raise ValueError(
            f'patch_hw={(ph, pw)} does not divide the image '
            f'{img_h}x{img_w}; use the token stride of the '
            'backbone and an input size that is a multiple'
        )
    return (img_h, img_w), (ph, pw), (img_h // ph, img_w // pw)


def _boxes(box: BoxLike, device, dtype) -> torch.Tensor:
    """``(B, 4)`` float boxes from a 4-sequence, ``(4,)`` or ``(B, 4)``."""
    if torch.is_tensor(box):
        device = box.device if device is None else device
    boxes = torch.as_tensor(box, dtype=dtype, device=device)
    if boxes.dim() not in (1, 2) or boxes.shape[-1] != 4:
        raise ValueError(
            f'box must be (y1, y2, x1, x2) or a (B, 4) tensor, got shape {tuple(boxes.shape)}'
        )
    return boxes.view(-1, 4)


def snap_box_to_grid(
    box: BoxLike,
    patch_hw,
    device: Optional[torch.device] = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Move every box edge to the nearest patch boundary (halves round up).

    Args:
        box: ``(y1, y2, x1, x2)`` in pixels, or a ``(B, 4)`` tensor.
        patch_hw (int | tuple[int, int]): Patch size ``(ph, pw)``.
        device, dtype: Of the result (a tensor box keeps its device).

    Returns:
        Tensor: ``(B, 4)`` snapped boxes in pixels (``B = 1`` for one box).
    """
    ph, pw = _pair(patch_hw, 'patch_hw')
    boxes = _boxes(box, device, dtype)
    size = boxes.new_tensor([ph, ph, pw, pw])
    return torch.floor(boxes / size + 0.5) * size


def box_lam(
    box: BoxLike, img_hw, device: Optional[torch.device] = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """``lam = 1 - box area / (H W)`` of clipped boxes, ``(B,)``."""
    img_h, img_w = _pair(img_hw, 'img_hw')
    boxes = _boxes(box, device, dtype)
    height = (boxes[:, 1] - boxes[:, 0]).clamp_min(0)
    width = (boxes[:, 3] - boxes[:, 2]).clamp_min(0)
    return 1.0 - height * width / float(img_h * img_w)


def _overlap(lo: torch.Tensor, hi: torch.Tensor, cells: int, size: int) -> torch.Tensor:
    """``(B, cells)`` covered share of each cell of ``[c size, (c+1) size)``
    by the interval ``[lo, hi)``."""
    start = torch.arange(cells, device=lo.device, dtype=lo.dtype) * size
    covered = torch.minimum(hi.unsqueeze(-1), start + size) - torch.maximum(lo.unsqueeze(-1), start)
    return covered.clamp_min(0) / size


def box_patch_fractions(
    box: BoxLike,
    img_hw,
    patch_hw,
    box_alignment: str = 'pixel',
    device: Optional[torch.device] = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    r"""Share of every patch's area that lies inside the pasted box.

    For patch ``(r, c)`` of the ``(H / ph) x (W / pw)`` grid:

    .. math::
        f_{rc} = \frac{|[y_1, y_2) \cap [r p_h, (r+1) p_h)|}{p_h}
                 \cdot \frac{|[x_1, x_2) \cap [c p_w, (c+1) p_w)|}{p_w}

    so a patch wholly inside gets 1, outside 0, and a patch cut by the box
    edge its fractional overlap (Diverse-ViT). With
    ``box_alignment='patch'`` the box is first snapped to the grid
    (:func:`snap_box_to_grid`) and every fraction is 0 or 1; paste the
    snapped box then. ``mean(f) = 1 - box_lam(box)`` for a box inside the
    image.

    Args:
        box: ``(y1, y2, x1, x2)`` in pixels (ints, floats or a ``(4,)``
            tensor), or a ``(B, 4)`` tensor of one box per image.
        img_hw (int | tuple[int, int]): Image size ``(H, W)``.
        patch_hw (int | tuple[int, int]): Patch size ``(ph, pw)``; must
            divide ``(H, W)``.
        box_alignment (str): ``'pixel'`` or ``'patch'``.
            Defaults to ``'pixel'``.
        device (torch.device, optional): Of the result; a tensor box keeps
            its own. Defaults to None (CPU for a Python box).
        dtype (torch.dtype): Of the result. Defaults to float32.

    Returns:
        Tensor: ``(B, n)`` fractions in ``[0, 1]``, ``n = (H/ph) (W/pw)``,
        row-major (``B = 1`` for a single box: it broadcasts over a batch).
    """
    if box_alignment not in BOX_ALIGNMENTS:
        raise ValueError(f'box_alignment must be one of {BOX_ALIGNMENTS}, got {box_alignment!r}')
    _, (ph, pw), (gh, gw) = _grid(img_hw, patch_hw)
    boxes = _boxes(box, device, dtype)
    if box_alignment == 'patch':
        boxes = snap_box_to_grid(boxes, (ph, pw))
    rows = _overlap(boxes[:, 0], boxes[:, 1], gh, ph)  # (B, gh)
    cols = _overlap(boxes[:, 2], boxes[:, 3], gw, pw)  # (B, gw)
    return (rows.unsqueeze(-1) * cols.unsqueeze(-2)).flatten(1)


def pairing_index(
    batch_size: int,
    pairing: str = 'permutation',
    device: Optional[torch.device] = None,
    generator: Optional[torch.Generator] = None,
) -> torch.Tensor:
    """Index of the image each image is mixed with, ``(B,)`` int64.

    - ``'permutation'``: ``torch.randperm(B)`` (mmpretrain's Mixup/CutMix).
    - ``'mirror'``: ``i -> B - 1 - i`` (Diverse-ViT, timm's ``flip(0)``);
      for odd ``B`` the middle image is paired with itself (it stays
      unmixed).

    Args:
        batch_size (int): ``B >= 1``.
        pairing (str): ``'permutation'`` or ``'mirror'``.
            Defaults to ``'permutation'``.
        device (torch.device, optional): Of the result. Defaults to None.
        generator (torch.Generator, optional): For ``'permutation'`` (on
            ``device``). Defaults to None (global RNG).

    Returns:
        Tensor: ``(B,)`` index into the batch.
    """
    if pairing not in PAIRINGS:
        raise ValueError(f'pairing must be one of {PAIRINGS}, got {pairing!r}')
    if batch_size < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    if pairing == 'mirror':
        return torch.arange(batch_size - 1, -1, -1, device=device)
    return torch.randperm(batch_size, device=device, generator=generator)


def patch_soft_targets(
    scores: torch.Tensor, index: torch.Tensor, fractions: torch.Tensor
) -> torch.Tensor:
    r"""Per-patch soft targets of a CutMix batch.

    .. math::
        y_{b,i} = (1 - f_{b,i})\, y_b + f_{b,i}\, y_{index[b]}

    (patch ``i`` of image ``b`` holds ``f`` of image ``index[b]``'s pixels).
    Label smoothing commutes with this convex mix, so smoothing the
    image-level scores before or the patch targets after gives the same.

    Args:
        scores (Tensor): ``(B, K)`` image-level (one-hot or soft) scores
            before mixing.
        index (Tensor): ``(B,)`` pairing (:func:`pairing_index`).
        fractions (Tensor): ``(B, n)`` or ``(1, n)``
            (:func:`box_patch_fractions`).

    Returns:
        Tensor: ``(B, n, K)`` in the dtype of ``scores``, on its device;
        ``mean`` over patches equals the image-level mixed score.
    """
    if scores.dim() != 2 or index.shape != scores.shape[:1]:
        raise ValueError(
            'patch_soft_targets expects scores (B, K) and '
            f'index (B,), got {tuple(scores.shape)} and '
            f'{tuple(index.shape)}'
        )
    if fractions.dim() != 2 or fractions.shape[0] not in (1, len(scores)):
        raise ValueError(
            f'patch_soft_targets expects fractions (B, n) or (1, n), got {tuple(fractions.shape)}'
        )
    own = scores.unsqueeze(1)  # (B, 1, K)
    partner = scores[index.to(scores.device)].unsqueeze(1)
    weight = fractions.to(device=scores.device, dtype=scores.dtype).unsqueeze(-1)  # (B|1, n, 1)
    return own + weight * (partner - own)
