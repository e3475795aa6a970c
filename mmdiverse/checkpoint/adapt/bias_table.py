"""The one resize of Swin relative position bias tables (window size changes).

A ``w x w`` window attention holds one bias per relative offset ``(dy, dx)``
in ``[-(w-1), w-1]^2``, row-major, per head: a table of shape
``((2w-1)^2, heads)``. When a checkpoint is loaded into a model with another
window, the table is resized the way mmpretrain 1.x resizes it in its Swin
and BEiT load hooks (``mmpretrain.models.utils.resize_relative_position_bias_table``):
BEiT's geometric-progression offsets (the source entries are spread over the
new, larger offset range with steps ``1, q, q^2, ...``) and a cubic spline
through them, sampled at the new integer offsets.

Every load path of this project uses this function:

* mmpretrain's own hooks (plain ``init_cfg=dict(type='Pretrained')``,
  ``load_from``) call it through :mod:`mmdiverse.compat.mmpretrain_bias_table`,
  which also mends mmpretrain's use of ``scipy.interpolate.interp2d`` (removed
  in SciPy 1.14);
* the strict backbone transfer of the segmentors
  (:func:`mmdiverse.checkpoint.load_pretrained_backbone`) calls it from
  :func:`mmdiverse.checkpoint.adapt.adapt_state_dict`.

So a classifier and a segmentor get the same table from the same checkpoint.
Microsoft's Swin code (and the Patch-Diversification fork's segmentation
code) resize bicubically instead; no published recipe of either paper changes
the window between pretraining and transfer (Swin-L: 12 -> 12), so this choice
does not touch a reproduced run (docs/fidelity.md).
"""

import math

import numpy as np
import torch


def geometric_offsets(src_size: int, dst_size: int) -> np.ndarray:
    """Relative positions of a ``src_size`` table spread over a ``dst_size`` one.

    BEiT's scheme, as mmpretrain implements it: the ``n = src_size // 2``
    offsets on each side of 0 are ``1, 1 + q, 1 + q + q^2, ...``, with the
    ratio ``q`` in ``[1.01, 1.5]`` found by bisection so that the outermost
    offset lands at ``dst_size // 2``.

    Args:
        src_size (int): Side of the source table (``2 * window - 1``).
        dst_size (int): Side of the destination table.

    Returns:
        np.ndarray: ``(src_size,)`` increasing positions, symmetric about 0.
    """
    half = src_size // 2
    low, high = 1.01, 1.5
    ratio = (low + high) / 2.0
    while high - low > 1e-6:
        ratio = (low + high) / 2.0
        if (1.0 - ratio**half) / (1.0 - ratio) > dst_size // 2:
            high = ratio
        else:
            low = ratio
    side = np.cumsum(ratio ** np.arange(half))
    return np.concatenate([-side[::-1], [0.0], side])


def table_side(length: int) -> int:
    """Side ``2w - 1`` of a square table with ``length`` rows.

    Raises:
        ValueError: ``length`` is not the square of an odd number.
    """
    side = math.isqrt(length)
    if side * side != length or side % 2 == 0:
        raise ValueError(
            f'{length} rows are not a square relative position bias table '
            '((2 * window - 1) ** 2 rows)'
        )
    return side


def resize_relative_position_bias_table(table: torch.Tensor, dst_len: int) -> torch.Tensor:
    """Resize a relative position bias table to ``dst_len`` rows.

    Args:
        table (Tensor): ``(S * S, heads)`` with ``S = 2 * w_old - 1``.
        dst_len (int): ``D * D`` with ``D = 2 * w_new - 1``.

    Returns:
        Tensor: ``(D * D, heads)`` in ``table``'s dtype and device; ``table``
        itself when the length does not change (the geometric spread is not
        the identity at equal sizes, and mmpretrain never resizes then).

    Raises:
        ValueError: a length is not a square of an odd number.
    """
    from scipy.interpolate import RectBivariateSpline

    src, dst = table_side(table.shape[0]), table_side(dst_len)
    if src == dst:
        return table
    positions = geometric_offsets(src, dst)
    half = dst // 2.0
    targets = np.arange(-half, half + 0.1, 1.0)
    source = table.detach().float().cpu().numpy()
    columns = []
    for head in range(source.shape[1]):
        grid = source[:, head].reshape(src, src)  # rows: dy, columns: dx
        spline = RectBivariateSpline(positions, positions, grid, kx=3, ky=3, s=0)
        columns.append(spline(targets, targets).reshape(-1, 1))
    resized = torch.from_numpy(np.concatenate(columns, axis=1).astype(np.float32))
    return resized.to(device=table.device, dtype=table.dtype)
