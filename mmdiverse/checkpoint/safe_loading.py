"""Safe checkpoint loading for mmengine on torch >= 2.6.

mmengine 0.10.7 calls ``torch.load(filename, map_location=...)`` without
``weights_only``. Since torch 2.6 that means ``weights_only=True``, which refuses
the objects mmengine itself writes into a checkpoint (``HistoryBuffer`` in the
message hub, NumPy scalars and arrays in the logged metrics), so ``--resume``
fails with ``Unsupported global: mmengine.logging.history_buffer.HistoryBuffer``.

Turning the safety off (``weights_only=False``) would let any checkpoint run
code when it is opened. Instead, this module keeps ``weights_only=True`` and
admits an explicit allow-list of the plain-data types mmengine writes, scoped to
each load (``torch.serialization.safe_globals``), never added globally. Anything
else in a file is refused with :class:`UnsafeCheckpointError`, which names the
file and the refused global.

:func:`install_safe_checkpoint_loader` routes mmengine's local-file and
``http(s)://`` checkpoint schemes (used by ``Runner.resume``, ``load_from`` and
``init_cfg=dict(type='Pretrained')``) through :func:`safe_load`. Importing
:mod:`mmdiverse` calls it.
"""
import os.path as osp
import pickle
import re
from typing import Any, List, Optional

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds an object outside the allow-list of safe types."""


def _numpy_globals() -> List[Any]:
    """NumPy types that appear in pickled metrics (arrays, scalars, dtypes)."""
    from numpy.core.multiarray import _reconstruct, scalar
    dtype_classes = [type(np.dtype(name)) for name in (
        'bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16',
        'uint32', 'uint64', 'float16', 'float32', 'float64')]
    return [_reconstruct, scalar, np.ndarray, np.dtype, *dtype_classes]


_DEFAULT_STATISTICS = ('min', 'max', 'current', 'mean')


def history_buffer_statistic(owner: Any, name: str) -> Any:
    """A ``getattr`` restricted to HistoryBuffer's statistics methods.

    A pickled ``HistoryBuffer`` holds its statistics methods, which pickle as
    ``getattr(HistoryBuffer, 'mean')``. Allowing the real ``getattr`` would let
    a file reach any attribute of any allowed object, so the global
    ``builtins.getattr`` is mapped to this function for the load instead.

    Raises:
        UnsafeCheckpointError: for anything but ``HistoryBuffer.<statistic>``.
    """
    allowed = set(_DEFAULT_STATISTICS) | set(HistoryBuffer._statistics_methods)
    if owner is HistoryBuffer and name in allowed:
        return getattr(HistoryBuffer, name)
    raise UnsafeCheckpointError(
        f'getattr({owner!r}, {name!r}) is outside the allow-list: only '
        f'HistoryBuffer statistics {sorted(allowed)} may be looked up')


def safe_globals() -> List[Any]:
    """The allow-list: every non-tensor type that mmengine writes.

    Returns:
        list: classes and functions (or ``(function, qualified name)`` pairs)
        passed to ``torch.serialization.safe_globals`` for one load.
    """
    restricted_getattr = [(history_buffer_statistic, f'{module}.getattr')
                          for module in ('builtins', '__builtin__')]
    return [HistoryBuffer, *_numpy_globals(), *restricted_getattr]


_GLOBAL_PATTERN = re.compile(r'Unsupported global: GLOBAL ([\w.]+)')
_REASON_PATTERN = re.compile(r'WeightsUnpickler error:(.*?)(?:Check the documentation|$)', re.S)


def _refusal_reason(error: Exception) -> str:
    """The part of torch's weights-only error that says what was refused."""
    text = str(error)
    match = _GLOBAL_PATTERN.search(text)
    if match:
        return (f'it needs {match.group(1)}, which is not in mmdiverse\'s allow-list '
                'of safe checkpoint types (tensors, containers, NumPy values, '
                'mmengine HistoryBuffer)')
    match = _REASON_PATTERN.search(text)
    reason = match.group(1).strip() if match else text.strip()
    return reason.splitlines()[0] if reason else 'it holds an object outside the allow-list'



def safe_load(filename: Any, map_location: Optional[Any] = None) -> Any:
    """``torch.load`` with ``weights_only=True`` and mmengine's allow-list.

    Args:
        filename (str | file-like): the checkpoint.
        map_location: as for :func:`torch.load`.

    Returns:
        The unpickled checkpoint (usually a dict).

    Raises:
        FileNotFoundError: ``filename`` is a path that does not exist.
        UnsafeCheckpointError: the file needs a global outside the allow-list;
            nothing from it was executed.
    """
    if isinstance(filename, str):
        filename = osp.expanduser(filename)
        if not osp.isfile(filename):
            raise FileNotFoundError(f'checkpoint file not found: {filename}')
    try:
        with torch.serialization.safe_globals(safe_globals()):
            return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        raise UnsafeCheckpointError(
            f'Refused to load checkpoint {filename!r}: {_refusal_reason(error)}. '
            'Loading it could execute code from the file. If you trust its source, '
            're-save only its tensors (the state_dict) with torch.save where it was '
            'made.') from None


def load_from_local_safe(filename: str, map_location: Optional[Any] = None) -> Any:
    return safe_load(filename, map_location)


def load_from_http_safe(filename: str, map_location: Optional[Any] = None) -> Any:
    from torch.hub import download_url_to_file, get_dir
    target = osp.join(get_dir(), 'checkpoints', osp.basename(filename.split('?')[0]))
    if not osp.isfile(target):
        download_url_to_file(filename, target, progress=True)
    return safe_load(target, map_location)


def install_safe_checkpoint_loader() -> None:
    """Route mmengine's local and http(s) checkpoint loading through
    :func:`safe_load`. Idempotent."""
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local_safe, force=True)
    CheckpointLoader.register_scheme(
        prefixes=('http://', 'https://'), loader=load_from_http_safe, force=True)
