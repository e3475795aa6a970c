"""Work-arounds for breakage in the libraries mmdiverse builds on, one per module.

Each module states what is broken, in which versions, and installs its fix
when ``mmdiverse`` is imported (``install_compat_fixes``).
"""
from .mmengine_last_checkpoint import (LastCheckpointError, install_atomic_last_checkpoint,
                                       read_last_checkpoint)
from .mmpretrain_bias_table import geometric_resize_bias_table, install_bias_table_resize


def install_compat_fixes() -> None:
    """Install every fix that the installed library versions need."""
    install_bias_table_resize()
    install_atomic_last_checkpoint()


__all__ = [
    'LastCheckpointError', 'geometric_resize_bias_table', 'install_atomic_last_checkpoint',
    'install_bias_table_resize', 'install_compat_fixes', 'read_last_checkpoint'
]
