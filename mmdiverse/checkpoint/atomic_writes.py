"""Atomic local writes for mmengine's checkpoints and ``last_checkpoint``.

mmengine's ``LocalBackend.put``/``put_text`` open the destination and write into
it, so a job killed while saving leaves a truncated ``epoch_N.pth`` (or
``last_checkpoint`` file) behind, and ``--resume`` then fails on it or, worse,
``last_checkpoint`` names it. :class:`AtomicLocalBackend` writes to a temporary
file in the same directory, flushes and fsyncs it, and renames it over the
destination (``os.replace`` is atomic on POSIX): a reader sees either the old
complete file or the new complete file, never a partial one.

:func:`install_atomic_local_backend` registers it as mmengine's backend for
local paths (the ``''`` prefix); importing :mod:`mmdiverse` calls it.
"""
import os
import os.path as osp
import tempfile
from pathlib import Path
from typing import Union

from mmengine import fileio
from mmengine.fileio.backends import LocalBackend, register_backend


def atomic_write(data: Union[bytes, str], filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
    """Write ``data`` to ``filepath`` through a temporary file and a rename.

    Args:
        data: bytes, or text encoded with ``encoding``.
        filepath: destination; its directory is created if needed.
        encoding: text encoding when ``data`` is a ``str``.
    """
    directory = osp.dirname(osp.abspath(filepath))
    os.makedirs(directory, exist_ok=True)
    payload = data.encode(encoding) if isinstance(data, str) else data
    fd, tmp_path = tempfile.mkstemp(prefix=f'.{osp.basename(filepath)}.', suffix='.tmp',
                                    dir=directory)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, filepath)
    except BaseException:
        if osp.exists(tmp_path):
            os.remove(tmp_path)
        raise


class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend, with crash-safe ``put`` and ``put_text``."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        atomic_write(obj, filepath)

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        atomic_write(obj, filepath, encoding)


def install_atomic_local_backend() -> None:
    """Make :class:`AtomicLocalBackend` mmengine's backend for local paths."""
    register_backend('local', AtomicLocalBackend, force=True, prefixes='')
    # Drop cached instances of the plain backend made before this call.
    for key, backend in list(fileio.io.backend_instances.items()):
        if type(backend) is LocalBackend:
            del fileio.io.backend_instances[key]
