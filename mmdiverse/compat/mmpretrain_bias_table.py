"""mmpretrain's relative-position-bias resize without ``scipy.interpolate.interp2d``.

What is broken: when a Swin or BEiT checkpoint is loaded into a model with
another window size, mmpretrain 1.x resizes each relative position bias table
in a ``load_state_dict`` pre-hook through
``mmpretrain.models.utils.resize_relative_position_bias_table``, which calls
``scipy.interpolate.interp2d(..., kind='cubic')``. SciPy 1.14 removed
``interp2d`` (it now raises ``NotImplementedError``), so with any current SciPy
a plain ``init_cfg=dict(type='Pretrained')`` or ``load_from`` across window
sizes crashes.

The fix: the same resize -- BEiT's geometric-progression offsets and a cubic
spline through the table -- with ``scipy.interpolate.RectBivariateSpline``,
which is what ``interp2d`` computed for data on a grid (FITPACK's ``regrid``
with zero smoothing). It replaces the function in the mmpretrain modules that
imported it, only when SciPy no longer has a working ``interp2d``.
"""
import importlib
from typing import Tuple

import numpy as np
import torch

#: Modules holding a reference to mmpretrain's function.
_MMPRETRAIN_MODULES = ('mmpretrain.models.utils.embed', 'mmpretrain.models.utils',
                       'mmpretrain.models.backbones.swin_transformer',
                       'mmpretrain.models.backbones.beit')
_FUNCTION = 'resize_relative_position_bias_table'


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
    side = np.cumsum(ratio**np.arange(half))
    return np.concatenate([-side[::-1], [0.0], side])


def geometric_resize_bias_table(src_shape: int, dst_shape: int, table: torch.Tensor,
                                num_head: int) -> torch.Tensor:
    """Drop-in for mmpretrain's ``resize_relative_position_bias_table`` (same arguments).

    Args:
        src_shape (int): Side of the source table, ``S = 2 * window - 1``.
        dst_shape (int): Side of the destination table, ``D``.
        table (Tensor): ``(S * S, num_head)`` source table.
        num_head (int): Attention heads (columns of ``table``).

    Returns:
        Tensor: ``(D * D, num_head)`` float32 table on ``table``'s device.
    """
    from scipy.interpolate import RectBivariateSpline
    positions = geometric_offsets(src_shape, dst_shape)
    half = dst_shape // 2.0
    targets = np.arange(-half, half + 0.1, 1.0)
    source = table.detach().float().cpu().numpy()
    columns = []
    for head in range(num_head):
        grid = source[:, head].reshape(src_shape, src_shape)        # rows: y, columns: x
        spline = RectBivariateSpline(positions, positions, grid, kx=3, ky=3, s=0)
        columns.append(spline(targets, targets).reshape(-1, 1))
    return torch.from_numpy(np.concatenate(columns, axis=1).astype(np.float32)).to(table.device)


def scipy_has_interp2d() -> bool:
    """Whether ``scipy.interpolate.interp2d`` still works (SciPy < 1.14)."""
    from scipy import interpolate
    grid = np.arange(4.0)
    try:
        interpolate.interp2d(grid, grid, np.zeros((4, 4)), kind='cubic')
    except (AttributeError, NotImplementedError):
        return False
    return True


def install_bias_table_resize(force: bool = False) -> Tuple[str, ...]:
    """Point mmpretrain's modules at :func:`geometric_resize_bias_table`.

    Args:
        force (bool): Install even if SciPy still has ``interp2d``.

    Returns:
        tuple[str]: The modules patched (empty when nothing was needed).
    """
    if not force and scipy_has_interp2d():
        return ()
    patched = []
    for name in _MMPRETRAIN_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, _FUNCTION):
            setattr(module, _FUNCTION, geometric_resize_bias_table)
            patched.append(name)
    return tuple(patched)
