"""Checkpoint safety: allow-listed loading, atomic writes; conversion and export."""
from .atomic_writes import AtomicLocalBackend, atomic_write, install_atomic_local_backend
from .safe_loading import (UnsafeCheckpointError, install_safe_checkpoint_loader,
                           safe_globals, safe_load)

__all__ = [
    'AtomicLocalBackend', 'UnsafeCheckpointError', 'atomic_write',
    'install_atomic_local_backend', 'install_safe_checkpoint_loader', 'safe_globals', 'safe_load'
]
from .backbone_loading import (BackboneLoadError, TransferReport,  # noqa: E402
                               load_pretrained_backbone)

__all__ += ['BackboneLoadError', 'TransferReport', 'load_pretrained_backbone']
from .convert import (ConversionReport, convert_checkpoint, convert_state_dict,  # noqa: E402
                      detect_format, extract_state_dict)
from .export import (describe_backbone, describe_state_dict, export_backbone,  # noqa: E402
                     regularizers_from_cfg)

__all__ += [
    'ConversionReport', 'convert_checkpoint', 'convert_state_dict', 'detect_format',
    'extract_state_dict', 'describe_backbone', 'describe_state_dict', 'export_backbone',
    'regularizers_from_cfg'
]
