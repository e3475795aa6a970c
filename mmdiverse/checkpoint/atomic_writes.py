"""Atomic local writes for mmengine's checkpoints, ``last_checkpoint`` and metrics.

mmengine's ``LocalBackend.put``/``put_text`` open the destination and write into
it, so a job killed while saving leaves a truncated ``epoch_N.pth`` behind, and
``--resume`` then fails on it. :func:`atomic_write` writes to a temporary file
in the same directory, flushes and fsyncs it, and renames it over the
destination (``os.replace`` is atomic on POSIX): a reader sees either the old
complete file or the new complete file, never a partial one.

Two details make it a drop-in for a plain write:

* **Permissions.** The temporary file comes from ``tempfile.mkstemp``, which
  creates it mode 600; it is given ``0o666 & ~umask`` before the rename, what
  ``open(path, 'w')`` gives (644 under the usual umask 022).
* **Leftovers.** A process killed between creating and renaming its temporary
  file leaves it behind (a Swin-L checkpoint is 2-3 GB). The temporary names
  are ``.<name>.<host>-<pid>.<random>.tmp``; every write removes the ones in
  its directory whose process is gone (:func:`remove_stale_temporary_files`).

:class:`AtomicLocalBackend` is mmengine's local backend with these writes; a
checkpoint file also gets its SHA-256 digest beside it (:mod:`.digest`,
:func:`write_checkpoint_bytes`). :func:`install_atomic_local_backend` registers
it for local paths (the ``''`` prefix) through mmengine's ``register_backend``;
``import mmdiverse.runtime`` calls it (``import mmdiverse`` does not).
mmengine's ``CheckpointHook`` writes ``last_checkpoint`` with a plain ``open``
instead: ``SafeCheckpointHook`` writes it here.
"""

import os
import os.path as osp
import re
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import List, Union

from mmengine import fileio
from mmengine.fileio.backends import LocalBackend, register_backend
from mmengine.logging import print_log

from .digest import digest_line, digest_path, is_checkpoint_name

#: ``.<destination name>.<host>-<pid>.<mkstemp's random part>.tmp``
_TMP_NAME = re.compile(r'^\.(?P<name>.+)\.(?P<host>[^.]*)-(?P<pid>\d+)\.[\w]{8}\.tmp$')
#: Earlier versions wrote ``.<name>.<random>.tmp`` (no owner): removed once
#: untouched for this long, which no live write is.
LEGACY_STALE_AFTER_S = 3600.0
#: Temporary files of another host (a shared file system) are removed once
#: untouched for this long.
FOREIGN_STALE_AFTER_S = 3600.0
_LEGACY_TMP_NAME = re.compile(r'^\.(?P<name>.+)\.[\w]{8}\.tmp$')
_UMASK_LOCK = threading.Lock()


def _host() -> str:
    return re.sub(r'[^\w-]', '_', socket.gethostname())[:32]


def current_umask() -> int:
    """The process umask (read by setting and restoring it, under a lock)."""
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def remove_stale_temporary_files(directory: Union[str, Path]) -> List[str]:
    """Remove the temporary files of interrupted :func:`atomic_write` calls.

    Only this module's own names (``.<name>.<host>-<pid>.<8 chars>.tmp``)
    are considered. A file is stale when its writer, a process on this host,
    is gone; one of another host, or of the earlier ownerless pattern
    ``.<name>.<8 chars>.tmp``, when it is untouched for an hour.

    Args:
        directory: The directory to clean.

    Returns:
        list[str]: The paths removed.
    """
    removed, host, now = [], _host(), time.time()
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        path = osp.join(directory, name)
        match = _TMP_NAME.match(name)
        try:
            if match and match['host'] == host:
                stale = int(match['pid']) != os.getpid() and not _process_alive(int(match['pid']))
            elif match or _LEGACY_TMP_NAME.match(name):
                limit = FOREIGN_STALE_AFTER_S if match else LEGACY_STALE_AFTER_S
                stale = now - osp.getmtime(path) > limit
            else:
                continue
            if stale and osp.isfile(path):
                os.remove(path)
                removed.append(path)
        except OSError:
            continue  # removed by someone else meanwhile
    return removed


def atomic_write(
    data: Union[bytes, str], filepath: Union[str, Path], encoding: str = 'utf-8'
) -> None:
    """Write ``data`` to ``filepath`` through a temporary file and a rename.

    The file gets mode ``0o666 & ~umask``; stale temporary files of earlier,
    interrupted writes in the directory are removed afterwards.

    Args:
        data: bytes, or text encoded with ``encoding``.
        filepath: destination; its directory is created if needed.
        encoding: text encoding when ``data`` is a ``str``.
    """
    directory = osp.dirname(osp.abspath(filepath))
    os.makedirs(directory, exist_ok=True)
    payload = data.encode(encoding) if isinstance(data, str) else data
    fd, tmp_path = tempfile.mkstemp(
        prefix=f'.{osp.basename(filepath)}.{_host()}-{os.getpid()}.', suffix='.tmp', dir=directory
    )
    try:
        with os.fdopen(fd, 'wb') as f:
            os.fchmod(f.fileno(), 0o666 & ~current_umask())
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, filepath)
    except BaseException:
        if osp.exists(tmp_path):
            os.remove(tmp_path)
        raise
    removed = remove_stale_temporary_files(directory)
    if removed:
        print_log(
            f'Removed {len(removed)} temporary files of interrupted writes: '
            + ', '.join(osp.basename(p) for p in removed),
            logger='current',
        )


def write_checkpoint_bytes(data: bytes, filepath: Union[str, Path]) -> None:
    """Write a checkpoint atomically, then its SHA-256 digest beside it.

    An old digest of the same name is removed first, so a crash between the
    two writes leaves a complete checkpoint without a digest, never one paired
    with another file's digest.
    """
    sidecar = digest_path(str(filepath))
    if osp.exists(sidecar):
        os.remove(sidecar)
    atomic_write(data, filepath)
    atomic_write(digest_line(data, str(filepath)), sidecar)


class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend, with crash-safe ``put`` and ``put_text``;
    checkpoints (``.pth``, ``.pt``, ...) get a digest file, removed with them."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        if is_checkpoint_name(str(filepath)):
            write_checkpoint_bytes(obj, filepath)
        else:
            atomic_write(obj, filepath)

    def remove(self, filepath: Union[str, Path]) -> None:
        super().remove(filepath)
        sidecar = digest_path(str(filepath))
        if is_checkpoint_name(str(filepath)) and osp.isfile(sidecar):
            os.remove(sidecar)

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        atomic_write(obj, filepath, encoding)


def install_atomic_local_backend() -> None:
    """Make :class:`AtomicLocalBackend` mmengine's backend for local paths."""
    register_backend('local', AtomicLocalBackend, force=True, prefixes='')
    # Drop cached instances of the plain backend made before this call.
    for key, backend in list(fileio.io.backend_instances.items()):
        if type(backend) is LocalBackend:
            del fileio.io.backend_instances[key]
