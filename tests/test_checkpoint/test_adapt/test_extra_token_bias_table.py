"""BEiT-layout relative position tables (mmdiverse.checkpoint.adapt.extra_token_bias_table)."""

import pytest
import torch

from mmdiverse.checkpoint.adapt import resize_relative_position_bias_table
from mmdiverse.checkpoint.adapt.extra_token_bias_table import (
    resize_table_with_extra_rows,
    split_extra_rows,
)


@pytest.mark.parametrize(
    'length, expected',
    [(27 * 27 + 3, (729, 3)), (63 * 63 + 3, (3969, 3)), (13 * 13, (169, 0)), (1, (1, 0))],
)
def test_grid_and_extra_rows(length, expected):
    assert split_extra_rows(length) == expected


def test_grid_goes_through_the_one_resize_and_extra_rows_are_kept():
    table = torch.randn(27 * 27 + 3, 4)  # 224 px, patch 16: 14x14 grid
    out = resize_table_with_extra_rows(table, 63 * 63 + 3)  # 512 px: 32x32
    assert out.shape == (63 * 63 + 3, 4)
    assert torch.equal(out[:-3], resize_relative_position_bias_table(table[:-3], 63 * 63))
    assert torch.equal(out[-3:], table[-3:])
    assert resize_table_with_extra_rows(table, table.shape[0]) is table


def test_tables_of_different_layouts_are_refused():
    with pytest.raises(ValueError, match='not the same table layout'):
        resize_table_with_extra_rows(torch.randn(27 * 27 + 3, 2), 63 * 63)
    with pytest.raises(ValueError, match='needs rows'):
        split_extra_rows(0)
