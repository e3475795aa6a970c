"""Step 1 of every checkpoint path: read a file without running code from it.

``read -> convert -> adapt -> check/load -> export``: this module reads a
checkpoint (a local path, an ``http(s)://`` URL or a ``.safetensors`` file)
and finds the model's tensors inside it. Nothing here renames or reshapes a
tensor; :mod:`.convert` renames, :mod:`.adapt` reshapes.

Local files go through :func:`~.safe_loading.safe_load` (digest checked,
``weights_only=True`` with mmengine's allow-list); ``http(s)://`` URLs are
downloaded into torch's hub cache and read by the same loader
(:func:`~.safe_loading.load_from_http`), whether or not ``mmdiverse.runtime``
is imported; other schemes (``s3://`` ...) go through mmengine's
``CheckpointLoader``.
"""

from collections import OrderedDict
from typing import Any, Dict, Mapping, Optional, Tuple

import torch

from .digest import verify_checkpoint
from .safe_loading import load_from_http, safe_load

StateDict = Dict[str, torch.Tensor]

#: Keys of training checkpoints that may hold the model's state dict, in the
#: order they are tried.
CONTAINER_KEYS = ('state_dict', 'model', 'module', 'model_state', 'state_dict_ema', 'model_ema')
#: Where this project's metadata lives in a checkpoint: ``meta[META_KEY]``.
META_KEY = 'mmdiverse'


def read_checkpoint(source: str, map_location: Any = 'cpu') -> Any:
    """Load a checkpoint file or URL without executing code from it.

    Args:
        source: A local path, an ``http(s)://`` URL (downloaded into torch's
            hub cache) or a ``.safetensors`` file.
        map_location: As for :func:`torch.load`.

    Returns:
        What the file holds (usually a dict).

    Raises:
        FileNotFoundError: a local path that does not exist.
        CorruptCheckpointError: the file differs from its recorded digest or
            is truncated.
        UnsafeCheckpointError: the file needs a global outside the allow-list.
        ValueError: a JAX ``.npz`` file (convert it through timm first).
    """
    if source.endswith('.safetensors'):
        from safetensors.torch import load_file

        verify_checkpoint(source)
        return load_file(source, device='cpu')
    if source.endswith('.npz'):
        raise ValueError(
            f'{source}: .npz (JAX) checkpoints: load them into a timm model '
            '(timm.create_model(name, pretrained=True, pretrained_cfg_overlay='
            'dict(file=PATH))), save its state_dict() and convert that file'
        )
    if '://' not in source:
        return safe_load(source, map_location=map_location)
    if source.startswith(('http://', 'https://')):
        return load_from_http(source, map_location=map_location)
    from mmengine.runner.checkpoint import CheckpointLoader

    return CheckpointLoader.load_checkpoint(source, map_location=map_location)


def _is_tensor_dict(obj: Any) -> bool:
    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    )


def strip_prefix(state_dict: Mapping[str, torch.Tensor], prefix: str) -> StateDict:
    """Remove ``prefix`` from every key that has it (``module.`` of DDP)."""
    if not any(k.startswith(prefix) for k in state_dict):
        return OrderedDict(state_dict)
    return OrderedDict(
        (k[len(prefix) :] if k.startswith(prefix) else k, v) for k, v in state_dict.items()
    )


def extract_state_dict(checkpoint: Any, key: Optional[str] = None) -> Tuple[StateDict, str]:
    """The model's tensors in a loaded checkpoint.

    Args:
        checkpoint: What :func:`read_checkpoint` returned.
        key: Container key to use (``state_dict``, ``model``, ``model_ema``
            ...); by default the first of :data:`CONTAINER_KEYS` present,
            or the checkpoint itself when it is a flat dict of tensors.

    Returns:
        tuple: The state dict (``module.`` prefixes removed; non-tensor
        entries left out) and the key it was found under (``''`` for a flat
        file).

    Raises:
        KeyError: ``key`` is not in the checkpoint.
        ValueError: no entry holds a dict of tensors.
    """
    if key:
        if not isinstance(checkpoint, Mapping) or key not in checkpoint:
            raise KeyError(f'the checkpoint has no {key!r} entry')
        found, where = checkpoint[key], key
    elif _is_tensor_dict(checkpoint):
        found, where = checkpoint, ''
    else:
        where = next(
            (
                k
                for k in CONTAINER_KEYS
                if isinstance(checkpoint, Mapping) and _is_tensor_dict(checkpoint.get(k))
            ),
            None,
        )
        if where is None:
            top = list(checkpoint)[:10] if isinstance(checkpoint, Mapping) else type(checkpoint)
            raise ValueError(
                f'cannot find the model weights in the checkpoint (top-level: {top}); '
                'name the entry with --key'
            )
        found = checkpoint[where]
    tensors = OrderedDict((k, v) for k, v in found.items() if isinstance(v, torch.Tensor))
    return strip_prefix(tensors, 'module.'), where


def checkpoint_meta(checkpoint: Any) -> Dict[str, Any]:
    """``meta`` of a loaded checkpoint (``{}`` when it has none)."""
    meta = checkpoint.get('meta') if isinstance(checkpoint, Mapping) else None
    return meta if isinstance(meta, Mapping) else {}
