"""mmpretrain's relative-position-bias resize, routed to the project's one resize.

What is broken: when a Swin or BEiT checkpoint is loaded into a model with
another window size, mmpretrain 1.x resizes each relative position bias table
in a ``load_state_dict`` pre-hook through
``mmpretrain.models.utils.resize_relative_position_bias_table``, which calls
``scipy.interpolate.interp2d(..., kind='cubic')``. SciPy 1.14 removed
``interp2d`` (it now raises ``NotImplementedError``), so with any current SciPy
a plain ``init_cfg=dict(type='Pretrained')`` or ``load_from`` across window
sizes crashes.

The fix: the same resize -- BEiT's geometric-progression offsets and a cubic
spline through the table -- computed by
:func:`mmdiverse.checkpoint.adapt.resize_relative_position_bias_table` with
``scipy.interpolate.RectBivariateSpline`` (what ``interp2d`` computed for data
on a grid: FITPACK's ``regrid`` with zero smoothing). It applies only where
both bounds hold (:func:`needs_bias_table_fix`): mmpretrain 1.0.0-1.2.0 (the
releases that call ``interp2d``) with SciPy >= 1.14 (no ``interp2d``).
:func:`install_bias_table_resize` points the mmpretrain modules that imported
the function at the fix; ``import mmdiverse.runtime`` calls it, ``import
mmdiverse`` does not.
"""

import importlib
from typing import Tuple

import torch

from ..checkpoint.adapt import resize_relative_position_bias_table
from .versions import in_range, installed_version

#: ``(lowest, below)`` of the mmpretrain releases that resize with ``interp2d``.
MMPRETRAIN_VERSIONS = ('1.0.0', '1.2.1')
#: The first SciPy without ``interp2d``.
SCIPY_WITHOUT_INTERP2D = '1.14.0'

#: Modules holding a reference to mmpretrain's function.
_MMPRETRAIN_MODULES = (
    'mmpretrain.models.utils.embed',
    'mmpretrain.models.utils',
    'mmpretrain.models.backbones.swin_transformer',
    'mmpretrain.models.backbones.beit',
)
_FUNCTION = 'resize_relative_position_bias_table'


def geometric_resize_bias_table(
    src_shape: int, dst_shape: int, table: torch.Tensor, num_head: int
) -> torch.Tensor:
    """Drop-in for mmpretrain's ``resize_relative_position_bias_table`` (same arguments).

    Args:
        src_shape (int): Side of the source table, ``S = 2 * window - 1``.
        dst_shape (int): Side of the destination table, ``D``.
        table (Tensor): ``(S * S, num_head)`` source table.
        num_head (int): Attention heads (columns of ``table``).

    Returns:
        Tensor: ``(D * D, num_head)`` float32 table on ``table``'s device.

    Raises:
        ValueError: ``table`` is not ``(S * S, num_head)``.
    """
    if tuple(table.shape) != (src_shape * src_shape, num_head):
        raise ValueError(
            f'relative position bias table of shape {tuple(table.shape)}, '
            f'expected ({src_shape * src_shape}, {num_head})'
        )
    return resize_relative_position_bias_table(table.float(), dst_shape * dst_shape)


def needs_bias_table_fix(mmpretrain_version=None, scipy_version=None) -> bool:
    """Whether the installed (or given) mmpretrain and SciPy need the fix."""
    return in_range(
        mmpretrain_version or installed_version('mmpretrain'), *MMPRETRAIN_VERSIONS
    ) and in_range(scipy_version or installed_version('scipy'), SCIPY_WITHOUT_INTERP2D)


def install_bias_table_resize() -> Tuple[str, ...]:
    """Point mmpretrain's modules at :func:`geometric_resize_bias_table`, where needed.

    Returns:
        tuple[str]: The modules patched (none outside the versions of
        :func:`needs_bias_table_fix`).
    """
    if not needs_bias_table_fix():
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
