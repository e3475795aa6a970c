"""The one relative-position-bias resize (mmdiverse.checkpoint.adapt.bias_table)."""

import numpy as np
import pytest
import torch

from mmdiverse.checkpoint.adapt.bias_table import (
    geometric_offsets,
    resize_relative_position_bias_table,
    table_side,
)


def test_offsets_are_symmetric_and_reach_the_new_half_width():
    offsets = geometric_offsets(13, 23)  # window 7 -> 12
    assert offsets.shape == (13,)
    np.testing.assert_allclose(offsets, -offsets[::-1])
    assert offsets[6] == 0 and np.all(np.diff(offsets) > 0)
    assert offsets[-1] == pytest.approx(23 // 2, abs=1e-4)
    steps = np.diff(offsets[6:])  # 1, q, q^2, ...
    np.testing.assert_allclose(steps[1:] / steps[:-1], steps[1])  # a geometric progression


def test_resize_reproduces_a_cubic_through_the_offsets():
    """An interpolating cubic spline is exact on cubic polynomials, so the
    resized table must equal the polynomial at the new integer positions."""
    src, dst, heads = 13, 23, 3
    positions = geometric_offsets(src, dst)

    def poly(y, x, head):
        return 1 + 0.5 * x - 0.2 * y + 0.01 * x * y + 0.003 * x**3 - 0.1 * head

    y, x = np.meshgrid(positions, positions, indexing='ij')
    table = torch.tensor(
        np.stack([poly(y, x, h).ravel() for h in range(heads)], 1), dtype=torch.float32
    )
    resized = resize_relative_position_bias_table(table, dst * dst)
    assert resized.shape == (dst * dst, heads) and resized.dtype == torch.float32
    grid = np.arange(-(dst // 2), dst // 2 + 1, dtype=np.float64)
    y, x = np.meshgrid(grid, grid, indexing='ij')
    expected = np.stack([poly(y, x, h).ravel() for h in range(heads)], 1)
    np.testing.assert_allclose(resized.numpy(), expected, rtol=1e-4, atol=1e-4)


def test_rows_are_dy_and_columns_dx():
    """A bias that depends on the vertical offset only keeps that property."""
    src = 13
    dy = np.repeat(np.arange(-6, 7, dtype=np.float32), src)  # row-major (dy, dx)
    table = torch.from_numpy(np.stack([dy, 2 * dy], 1))
    resized = resize_relative_position_bias_table(table, 23 * 23).reshape(23, 23, 2)
    torch.testing.assert_close(resized, resized[:, :1].expand(-1, 23, -1))
    assert torch.all(resized[1:, 0, 0] > resized[:-1, 0, 0])  # still increasing in dy


def test_dtype_is_kept_and_equal_sizes_are_a_no_op():
    table = torch.randn(13 * 13, 2, dtype=torch.float16)
    assert resize_relative_position_bias_table(table, 23 * 23).dtype == torch.float16
    assert resize_relative_position_bias_table(table, 13 * 13) is table


@pytest.mark.parametrize('length', [170, 12 * 12, 0 + 2])
def test_non_square_or_even_tables_are_refused(length):
    with pytest.raises(ValueError, match='not a square relative position bias table'):
        table_side(length)
