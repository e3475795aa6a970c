import numpy as np
import pytest
import torch

import mmdiverse  # noqa: F401  (installs the fix)
from mmdiverse.compat import geometric_resize_bias_table
from mmdiverse.compat.mmpretrain_bias_table import geometric_offsets, scipy_has_interp2d


def test_offsets_are_symmetric_and_reach_the_new_half_width():
    offsets = geometric_offsets(13, 23)                  # window 7 -> 12
    assert offsets.shape == (13, )
    np.testing.assert_allclose(offsets, -offsets[::-1])
    assert offsets[6] == 0 and np.all(np.diff(offsets) > 0)
    assert offsets[-1] == pytest.approx(23 // 2, abs=1e-4)
    steps = np.diff(offsets[6:])                          # 1, q, q^2, ...
    np.testing.assert_allclose(steps[1:] / steps[:-1], steps[1])   # a geometric progression


def test_resize_reproduces_a_cubic_through_the_offsets():
    """An interpolating cubic spline is exact on cubic polynomials, so the
    resized table must equal the polynomial at the new integer positions."""
    src, dst, heads = 13, 23, 3
    positions = geometric_offsets(src, dst)

    def poly(y, x, head):
        return 1 + 0.5 * x - 0.2 * y + 0.01 * x * y + 0.003 * x**3 - 0.1 * head

    y, x = np.meshgrid(positions, positions, indexing='ij')
    table = torch.tensor(np.stack([poly(y, x, h).ravel() for h in range(heads)], 1),
                         dtype=torch.float32)
    resized = geometric_resize_bias_table(src, dst, table, heads)
    assert resized.shape == (dst * dst, heads) and resized.dtype == torch.float32
    grid = np.arange(-(dst // 2), dst // 2 + 1, dtype=np.float64)
    y, x = np.meshgrid(grid, grid, indexing='ij')
    expected = np.stack([poly(y, x, h).ravel() for h in range(heads)], 1)
    np.testing.assert_allclose(resized.numpy(), expected, rtol=1e-4, atol=1e-4)


def test_mmpretrain_swin_loads_across_window_sizes():
    """mmpretrain's own load hook resizes the tables (on SciPy >= 1.14 it
    called the removed interp2d and crashed)."""
    from mmpretrain.models.backbones import SwinTransformer
    arch = dict(embed_dims=16, depths=[2, 2], num_heads=[2, 2])
    source = SwinTransformer(arch=arch, img_size=56, window_size=7, out_indices=(1, ))
    target = SwinTransformer(arch=arch, img_size=96, window_size=12, out_indices=(1, ))
    result = target.load_state_dict(source.state_dict(), strict=False)
    assert not result.unexpected_keys
    assert all('relative_position_index' in key for key in result.missing_keys)
    table = target.stages[0].blocks[0].attn.w_msa.relative_position_bias_table
    assert table.shape == (23 * 23, 2)
    centre = source.stages[0].blocks[0].attn.w_msa.relative_position_bias_table[6 * 13 + 6]
    torch.testing.assert_close(table[11 * 23 + 11], centre, rtol=1e-4, atol=1e-5)


def test_installed_only_where_scipy_lacks_interp2d():
    from mmpretrain.models.backbones import swin_transformer
    patched = swin_transformer.resize_relative_position_bias_table is geometric_resize_bias_table
    assert patched is not scipy_has_interp2d()
