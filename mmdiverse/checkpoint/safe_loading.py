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

:func:`safe_load` first checks a local file against its digest
(:func:`~.digest.verify_checkpoint`): a changed or truncated file is refused,
naming it, instead of torch's ``PytorchStreamReader failed reading zip archive``.

:func:`install_safe_checkpoint_loader` registers :func:`load_from_local` and
:func:`load_from_http` (mmengine's names and signatures) for mmengine's local
and ``http(s)://`` checkpoint schemes (used by ``Runner.resume``,
``load_from`` and ``init_cfg=dict(type='Pretrained')``) through
``CheckpointLoader.register_scheme``. ``import mmdiverse.runtime`` calls it;
``import mmdiverse`` does not.
"""

import os
import os.path as osp
import pickle
import re
import zipfile
from typing import Any, List, Optional
from urllib.parse import urlparse

import numpy as np
import torch
from mmengine.dist import get_dist_info, get_local_rank
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader
from torch.hub import download_url_to_file

from .digest import CorruptCheckpointError, intact_alternative, verify_checkpoint


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds an object outside the allow-list of safe types."""


def _numpy_globals() -> List[Any]:
    """NumPy types that appear in pickled metrics (arrays, scalars, dtypes)."""
    from numpy.core.multiarray import _reconstruct, scalar

    dtype_classes = [
        type(np.dtype(name))
        for name in (
            'bool',
            'int8',
            'int16',
            'int32',
            'int64',
            'uint8',
            'uint16',
            'uint32',
            'uint64',
            'float16',
            'float32',
            'float64',
        )
    ]
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
        f'HistoryBuffer statistics {sorted(allowed)} may be looked up'
    )


def safe_globals() -> List[Any]:
    """The allow-list: every non-tensor type that mmengine writes.

    Returns:
        list: classes and functions (or ``(function, qualified name)`` pairs)
        passed to ``torch.serialization.safe_globals`` for one load.
    """
    restricted_getattr = [
        (history_buffer_statistic, f'{module}.getattr') for module in ('builtins', '__builtin__')
    ]
    return [HistoryBuffer, *_numpy_globals(), *restricted_getattr]


#: What torch's weights-only unpickler refused, in the wordings of torch 2.6-2.14:
#: ``(pattern, description)``; the description names the refused global.
_REFUSALS = (
    (
        re.compile(r'Trying to load unsupported GLOBAL (\S+) whose module (\S+?)\.? is blocked'),
        'the global {0} (module {1} is blocked: it can run commands or code)',
    ),
    (re.compile(r'Unsupported global: GLOBAL (\S+) was not an allowed global'), 'the global {0}'),
    (
        re.compile(
            r'Trying to call reduce for unrecognized function (.+?)(?: which belongs to|\n|$)'
        ),
        'a call of {0}',
    ),
    (
        re.compile(
            r'Can only create new object for nn\.Parameter or classes allowlisted via '
            r'`add_safe_globals` but got (.+?)(?:\n|$)'
        ),
        'an instance of {0}',
    ),
    (re.compile(r'Can only build .*? but got (.+?)(?:\n|$)'), 'a state of {0}'),
)
_OPERAND = re.compile(r'Unsupported operand (\d+)')
#: Sentences of torch's message that advise turning the safety off.
_TORCH_ADVICE = re.compile(
    r'weights_only|add_safe_globals|safe_globals|arbitrary code|'
    r'trust|file an issue|Check the documentation',
    re.I,
)


def _pickle_header(filename: Any) -> Optional[bytes]:
    """The first bytes of a file (path or file object), or None."""
    try:
        if isinstance(filename, str):
            with open(filename, 'rb') as f:
                return f.read(16)
        position = filename.tell()
        head = filename.read(16)
        filename.seek(position)
        return head
    except (OSError, AttributeError, ValueError):
        return None


def _is_zip(filename: Any) -> bool:
    try:
        if not isinstance(filename, str):
            position = filename.tell()
            try:
                return zipfile.is_zipfile(filename)
            finally:
                filename.seek(position)
        return zipfile.is_zipfile(filename)
    except (OSError, AttributeError, ValueError):
        return False


def _refusal_reason(error: Exception, filename: Any) -> str:
    """What the file needs that the allow-list refused, in one clause.

    Names the refused global in every wording torch 2.6-2.14 uses; never
    passes on torch's advice to load with ``weights_only=False``.
    """
    text = str(error)
    for pattern, description in _REFUSALS:
        match = pattern.search(text)
        if match:
            return (
                f'it needs {description.format(*match.groups())}, which is not in '
                "mmdiverse's allow-list of safe checkpoint types (tensors, containers, "
                'NumPy values, mmengine HistoryBuffer)'
            )
    operand = _OPERAND.search(text)
    if operand:
        head = _pickle_header(filename) or b''
        if not _is_zip(filename) and head[:1] == b'\x80' and len(head) > 1 and head[1] >= 4:
            return (
                f'it is a plain pickle stream (protocol {head[1]}), not a torch.save '
                'checkpoint: a file written with pickle.dump (or torch.save with '
                '_use_new_zipfile_serialization=False and pickle_protocol >= 4), which the '
                f'safe loader cannot read (pickle opcode {operand.group(1)})'
            )
        return f'it uses pickle opcode {operand.group(1)}, which the safe loader does not read'
    inner = [
        line.strip()
        for line in re.split(r'(?<=[.!?])\s+|\n', text)
        if line.strip()
        and not _TORCH_ADVICE.search(line)
        and not line.strip().startswith(('Weights only load failed', 'WeightsUnpickler'))
    ]
    return inner[0].rstrip('.') if inner else 'it holds an object outside the allow-list'


def safe_load(filename: Any, map_location: Optional[Any] = None) -> Any:
    """``torch.load`` with ``weights_only=True`` and mmengine's allow-list.

    Args:
        filename (str | file-like): the checkpoint.
        map_location: as for :func:`torch.load`.

    Returns:
        The unpickled checkpoint (usually a dict).

    Raises:
        FileNotFoundError: ``filename`` is a path that does not exist.
        EOFError: the file is empty.
        CorruptCheckpointError: the file differs from its recorded digest, or
            is truncated or damaged (names the newest intact one beside it).
        UnsafeCheckpointError: the file needs a global outside the allow-list,
            or is a plain pickle; nothing from it was executed.
    """
    if isinstance(filename, str):
        filename = osp.expanduser(filename)
        if not osp.isfile(filename):
            raise FileNotFoundError(f'checkpoint file not found: {filename}')
        if osp.getsize(filename) == 0:
            raise EOFError(f'checkpoint file {filename} is empty (0 bytes)')
        verify_checkpoint(filename)
    try:
        with torch.serialization.safe_globals(safe_globals()):
            return torch.load(filename, map_location=map_location, weights_only=True)
    except RuntimeError as error:
        if 'PytorchStreamReader' not in str(error) or not isinstance(filename, str):
            raise
        raise CorruptCheckpointError(
            f'Checkpoint {filename} is corrupt: torch cannot read it '
            f'({str(error).split(". ")[0]}).' + intact_alternative(filename)
        ) from None
    except pickle.UnpicklingError as error:
        raise UnsafeCheckpointError(
            f'Refused to load checkpoint {filename!r}: {_refusal_reason(error, filename)}. '
            'Nothing from the file was executed; loading it without these checks could run '
            'code from it. If you trust its source, re-save only its tensors (the state_dict) '
            'with torch.save where it was made.'
        ) from None


def load_from_local(filename: str, map_location: Optional[Any] = None) -> Any:
    """mmengine's local-file loader, through :func:`safe_load`."""
    return safe_load(filename, map_location)


def _local_rank() -> int:
    """The rank within this machine (torchrun's ``LOCAL_RANK``; 0 when not distributed)."""
    rank, world_size = get_dist_info()
    if world_size == 1:
        return 0
    try:
        return get_local_rank()  # mmengine's local process group
    except RuntimeError:
        return int(os.environ.get('LOCAL_RANK', rank))


def download_to_cache(url: str, model_dir: Optional[str] = None, progress: bool = False) -> str:
    """Download ``url`` into torch's hub cache once per machine; every rank gets its path.

    Local rank 0 creates ``model_dir`` (default ``$TORCH_HOME/hub/checkpoints``)
    and downloads the file unless it is there already (``torch.hub`` writes a
    ``.partial`` file and renames it); the other ranks wait at a barrier, as
    in mmengine's ``load_from_http``.

    Returns:
        str: the cached file.

    Raises:
        FileNotFoundError: after the barrier, the file is not in the cache.
    """
    model_dir = model_dir or osp.join(torch.hub.get_dir(), 'checkpoints')
    target = osp.join(model_dir, osp.basename(urlparse(url).path))
    _, world_size = get_dist_info()
    if _local_rank() == 0 and not osp.isfile(target):
        os.makedirs(model_dir, exist_ok=True)
        download_url_to_file(url, target, progress=progress)
    if world_size > 1:
        torch.distributed.barrier()
    if not osp.isfile(target):
        raise FileNotFoundError(
            f'{url} was not downloaded to {target} (local rank 0 of this '
            'machine downloads it; is the cache directory shared?)'
        )
    return target


def load_from_http(
    filename: str,
    map_location: Optional[Any] = None,
    model_dir: Optional[str] = None,
    progress: bool = os.isatty(0),
) -> Any:
    """mmengine's ``http(s)://`` loader: :func:`download_to_cache`, then :func:`safe_load`."""
    return safe_load(download_to_cache(filename, model_dir, progress), map_location)


def install_safe_checkpoint_loader() -> None:
    """Route mmengine's local and http(s) checkpoint loading through
    :func:`safe_load`. Idempotent."""
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local, force=True)
    CheckpointLoader.register_scheme(
        prefixes=('http://', 'https://'), loader=load_from_http, force=True
    )
