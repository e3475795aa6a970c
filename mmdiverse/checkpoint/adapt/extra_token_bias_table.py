"""Relative position bias tables with extra-token rows (BEiT layout).

BEiT-style attention (mmseg's ``BEiT`` and the ``MAE`` backbone that mmseg's
MAE UperNet recipe uses; Bao et al. 2022, He et al. 2022) keeps one table per
layer of shape ``((2h-1)(2w-1) + 3, heads)``: the patch-to-patch offsets of
an ``h x w`` patch grid, row-major ``(dy, dx)``, then three rows for
class-to-patch, patch-to-class and class-to-class. When the patch grid
changes (224 px -> 512 px: 14x14 -> 32x32), the grid part is resized with the
project's one resize (:func:`.bias_table.resize_relative_position_bias_table`)
and the three extra rows are kept, which is what mmseg 1.2.2's
``BEiT.resize_rel_pos_embed`` means to do; that method calls
``scipy.interpolate.interp2d``, removed in SciPy 1.14 (docs/selfsup.md).
"""

import math
from typing import Tuple

import torch

from .bias_table import resize_relative_position_bias_table


def split_extra_rows(length: int) -> Tuple[int, int]:
    """``(grid rows, extra rows)`` of a table with ``length`` rows.

    The grid part is the largest odd square ``(2w - 1)^2`` not above
    ``length``; the rest (at most ``4w - 1`` rows) are extra-token rows.

    Raises:
        ValueError: ``length`` is below 1.
    """
    if length < 1:
        raise ValueError(f'a relative position bias table needs rows, got {length}')
    side = math.isqrt(length)
    side -= 1 - side % 2  # the largest odd side
    return side * side, length - side * side


def resize_table_with_extra_rows(table: torch.Tensor, dst_len: int) -> torch.Tensor:
    """Resize the grid part of a BEiT-layout table, keep its extra rows.

    Args:
        table: ``(S * S + e, heads)`` with ``S = 2 * w_old - 1`` and ``e``
            extra-token rows (3 for BEiT / mmseg's MAE).
        dst_len: ``D * D + e`` with ``D = 2 * w_new - 1``.

    Returns:
        Tensor: ``(D * D + e, heads)``: the resized grid (through the one
        resize), then the ``e`` extra rows unchanged; ``table`` itself when the
        length does not change.

    Raises:
        ValueError: the two tables have different numbers of extra rows (not
            the same layout).
    """
    src_grid, src_extra = split_extra_rows(table.shape[0])
    dst_grid, dst_extra = split_extra_rows(dst_len)
    if src_extra != dst_extra:
        raise ValueError(
            f'{table.shape[0]} rows ({src_grid} + {src_extra} extra) and '
            f'{dst_len} rows ({dst_grid} + {dst_extra} extra) are not the same '
            'table layout'
        )
    if src_grid == dst_grid:
        return table
    grid = resize_relative_position_bias_table(table[:src_grid], dst_grid)
    return torch.cat([grid, table[src_grid:]], dim=0)
