"""Checkpoint converters: third-party layouts <-> the mmpretrain layout.

Every config of this project loads mmpretrain's key layout (``backbone.*``,
``head.*``). One module per source layout, each with ``detect``,
``to_mmpretrain`` and ``from_mmpretrain``:

=================  ==========================================================
format             files
=================  ==========================================================
``swin-official``  Microsoft Swin (``swin_large_patch4_window12_384_22k.pth``)
``timm-swin``      timm >= 0.9 ``swin_*`` state dicts
``timm-vit``       timm ``vit_*`` / ``deit_*`` (also distilled) state dicts
``mmpretrain``     mmpretrain / mmcls model zoo, and this project's checkpoints
=================  ==========================================================

Any format converts to any other through the mmpretrain layout.
"""
import os.path as osp
from collections import OrderedDict
from typing import Any, Dict, Mapping, Optional, Tuple

import torch

from . import mmpretrain_zoo, swin_official, timm_swin, timm_vit
from .common import ConversionReport, Rule, StateDict, strip_prefix

#: Detection order matters: mmpretrain keys are the most specific.
FORMATS = OrderedDict([
    (mmpretrain_zoo.NAME, mmpretrain_zoo),
    (swin_official.NAME, swin_official),
    (timm_swin.NAME, timm_swin),
    (timm_vit.NAME, timm_vit),
])
ALIASES = {
    'mmpretrain-zoo': 'mmpretrain', 'mmcls': 'mmpretrain', 'mmdiverse': 'mmpretrain',
    'swin': 'swin-official', 'microsoft-swin': 'swin-official',
    'timm-deit': 'timm-vit', 'timm-vit-deit': 'timm-vit',
}
#: Keys of training checkpoints that may hold the model's state dict.
CONTAINER_KEYS = ('state_dict', 'model', 'module', 'model_state', 'state_dict_ema', 'model_ema')


def canonical_format(name: str) -> str:
    name = ALIASES.get(name, name)
    if name not in FORMATS:
        raise ValueError(f'unknown checkpoint format {name!r}; choose from '
                         f'{", ".join(list(FORMATS) + sorted(ALIASES))}')
    return name


def _is_tensor_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def extract_state_dict(checkpoint: Any, key: Optional[str] = None) -> Tuple[StateDict, str]:
    """The model's tensors in a loaded checkpoint file.

    Args:
        checkpoint: What ``torch.load`` returned.
        key: Container key to use (``state_dict``, ``model``, ``model_ema``
            ...); by default the first of :data:`CONTAINER_KEYS` present,
            or the checkpoint itself when it is a flat dict of tensors.

    Returns:
        tuple: The state dict (``module.`` prefixes removed) and the key it
        was found under (``''`` for a flat file).
    """
    if key:
        if not isinstance(checkpoint, Mapping) or key not in checkpoint:
            raise KeyError(f'the checkpoint has no {key!r} entry')
        found, where = checkpoint[key], key
    elif _is_tensor_dict(checkpoint):
        found, where = checkpoint, ''
    else:
        where = next((k for k in CONTAINER_KEYS
                      if isinstance(checkpoint, Mapping) and _is_tensor_dict(checkpoint.get(k))),
                     None)
        if where is None:
            top = list(checkpoint)[:10] if isinstance(checkpoint, Mapping) else type(checkpoint)
            raise ValueError(f'cannot find the model weights in the checkpoint (top-level: {top}); '
                             'name the entry with --key')
        found = checkpoint[where]
    tensors = OrderedDict((k, v) for k, v in found.items() if isinstance(v, torch.Tensor))
    return strip_prefix(tensors, 'module.'), where


def detect_format(state_dict: Mapping[str, torch.Tensor]) -> str:
    """Name of the layout of ``state_dict`` (see :data:`FORMATS`)."""
    for name, module in FORMATS.items():
        if module.detect(state_dict):
            return name
    sample = ', '.join(list(state_dict)[:6])
    raise ValueError(f'unrecognised checkpoint layout (keys: {sample}, ...); '
                     f'give the source format ({", ".join(FORMATS)})')


def convert_state_dict(state_dict: Mapping[str, torch.Tensor], src: str = 'auto',
                       dst: str = 'mmpretrain') -> Tuple[StateDict, ConversionReport]:
    """Convert ``state_dict`` from layout ``src`` to layout ``dst``.

    Args:
        state_dict: Flat dict of tensors (see :func:`extract_state_dict`).
        src: Source format or ``'auto'`` (:func:`detect_format`).
        dst: Target format; defaults to the layout our configs load.

    Returns:
        tuple: The converted state dict and a :class:`ConversionReport`.
    """
    state_dict = strip_prefix(state_dict, 'module.')
    src = detect_format(state_dict) if src == 'auto' else canonical_format(src)
    dst = canonical_format(dst)
    pivot, report = FORMATS[src].to_mmpretrain(state_dict)
    if dst == 'mmpretrain':
        return pivot, report
    out, second = FORMATS[dst].from_mmpretrain(pivot)
    return out, report.merge(second)


def load_checkpoint_file(path: str) -> Any:
    """Read a checkpoint without executing code from it.

    ``.safetensors`` files are read with safetensors; everything else with
    :func:`mmdiverse.checkpoint.safe_load` (``weights_only=True``).
    """
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file
        return load_file(path, device='cpu')
    if path.endswith('.npz'):
        raise ValueError('.npz (JAX) checkpoints: load them into a timm model '
                         '(timm.create_model(name, pretrained=True, pretrained_cfg_overlay='
                         'dict(file=PATH))), save its state_dict() and convert that file')
    from ..safe_loading import safe_load
    return safe_load(path, map_location='cpu')


def container_for(dst: str, state_dict: StateDict, meta: Dict) -> Any:
    """The file structure each format's own loader expects."""
    if dst == 'mmpretrain':
        return {'state_dict': state_dict, 'meta': meta}
    if dst == 'swin-official':
        return {'model': state_dict}
    return state_dict  # timm: a flat state dict


def convert_checkpoint(src_path: str, dst_path: str, src: str = 'auto', dst: str = 'mmpretrain',
                       key: Optional[str] = None) -> ConversionReport:
    """Convert the file ``src_path`` and write ``dst_path``.

    mmpretrain-layout outputs are ``{'state_dict': ..., 'meta':
    {'mmdiverse': ...}}`` with the architecture read from the weights
    (:func:`mmdiverse.checkpoint.export.describe_state_dict`) and the
    source recorded; a file converted from this project's own checkpoints
    keeps their metadata.
    """
    from ..export import META_KEY, describe_state_dict, save_checkpoint_file
    checkpoint = load_checkpoint_file(src_path)
    state_dict, _ = extract_state_dict(checkpoint, key)
    out, report = convert_state_dict(state_dict, src, dst)
    meta: Dict[str, Any] = {}
    if report.dst_format == 'mmpretrain':
        old = checkpoint.get('meta') if isinstance(checkpoint, Mapping) else None
        info = dict(old.get(META_KEY) or {}) if isinstance(old, Mapping) else {}
        if not info:
            info = describe_state_dict(out)
            info['regularizers'] = None  # unknown for third-party weights
        info.setdefault('source', osp.basename(src_path))
        info['converted_from'] = report.src_format
        meta = {META_KEY: info}
    save_checkpoint_file(container_for(report.dst_format, out, meta), dst_path)
    return report


__all__ = [
    'FORMATS', 'ConversionReport', 'Rule', 'canonical_format', 'convert_checkpoint',
    'convert_state_dict', 'detect_format', 'extract_state_dict', 'load_checkpoint_file',
    'mmpretrain_zoo', 'swin_official', 'timm_swin', 'timm_vit'
]
