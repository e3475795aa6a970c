"""Work-arounds for breakage in the libraries mmdiverse builds on, one per module.

Each module states what is broken and in which versions, and applies only
there. Nothing is installed by ``import mmdiverse``: ``import mmdiverse.runtime``
installs :func:`install_compat_fixes`; ``SafeCheckpointHook`` carries the
``last_checkpoint`` fix.
"""

from .mmengine_last_checkpoint import LastCheckpointError, read_last_checkpoint
from .mmpretrain_bias_table import (
    geometric_resize_bias_table,
    install_bias_table_resize,
    needs_bias_table_fix,
)


def install_compat_fixes() -> None:
    """Install every fix that the installed library versions need (idempotent)."""
    install_bias_table_resize()


__all__ = [
    'LastCheckpointError',
    'geometric_resize_bias_table',
    'install_bias_table_resize',
    'install_compat_fixes',
    'needs_bias_table_fix',
    'read_last_checkpoint',
]
