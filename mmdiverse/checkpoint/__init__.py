"""Checkpoints: safe reading, atomic writing, and the transfer pipeline.

Every load path runs the same steps, each its own module, each importing
only the ones before it::

    read      read.py         file / URL -> tensors (safe_loading.py: weights_only + allow-list)
    convert   convert/        third-party key layouts -> the layouts our configs load
    adapt     adapt/          bias tables / position embeddings resized (one resize each)
    check     backbone_loading.py   strict check, load, verify, report
    export    export.py       transfer files and converted checkpoints (metadata.py: meta)

``atomic_writes.py`` makes every local write crash-safe; ``digest.py`` records
a SHA-256 beside each checkpoint written and checks it on every load.
"""

from .adapt import adapt_state_dict, resize_position_embedding, resize_relative_position_bias_table
from .atomic_writes import (
    AtomicLocalBackend,
    atomic_write,
    install_atomic_local_backend,
    remove_stale_temporary_files,
    write_checkpoint_bytes,
)
from .backbone_loading import BackboneLoadError, TransferReport, load_pretrained_backbone
from .convert import ConversionReport, convert_state_dict, detect_format
from .digest import CorruptCheckpointError, verify_checkpoint
from .export import convert_checkpoint, export_backbone
from .metadata import describe_backbone, describe_state_dict, regularizers_from_cfg
from .read import extract_state_dict, read_checkpoint
from .safe_loading import (
    UnsafeCheckpointError,
    install_safe_checkpoint_loader,
    safe_globals,
    safe_load,
)

__all__ = [
    'AtomicLocalBackend',
    'BackboneLoadError',
    'ConversionReport',
    'CorruptCheckpointError',
    'TransferReport',
    'UnsafeCheckpointError',
    'adapt_state_dict',
    'atomic_write',
    'convert_checkpoint',
    'convert_state_dict',
    'describe_backbone',
    'describe_state_dict',
    'detect_format',
    'export_backbone',
    'extract_state_dict',
    'install_atomic_local_backend',
    'install_safe_checkpoint_loader',
    'load_pretrained_backbone',
    'read_checkpoint',
    'regularizers_from_cfg',
    'remove_stale_temporary_files',
    'resize_position_embedding',
    'resize_relative_position_bias_table',
    'safe_globals',
    'safe_load',
    'verify_checkpoint',
    'write_checkpoint_bytes',
]
