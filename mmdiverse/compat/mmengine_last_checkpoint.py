"""mmengine's ``last_checkpoint`` file: written atomically, read with a clear error.

What is broken (mmengine 0.10.7): ``CheckpointHook`` saves the checkpoint
through the file backend (atomic here, :mod:`mmdiverse.checkpoint.atomic_writes`)
but then writes ``work_dir/last_checkpoint`` with a plain
``open(save_file, 'w')``, which truncates the file before writing it. A job
killed in between leaves it empty, and ``--resume`` then fails with
``checkpoint file not found:`` and an empty name. ``Runner.load_or_resume``
reads it with ``find_latest_checkpoint``, which returns whatever the file
holds -- empty or garbled -- as a path.

The fix, in two parts:

* the ``open`` that ``mmengine.hooks.checkpoint_hook`` calls is pointed at
  :func:`open_for_checkpoint_hook`: writing ``last_checkpoint`` collects the
  text and hands it to :func:`~mmdiverse.checkpoint.atomic_write` on close (a
  temporary file and a rename); every other call is the builtin ``open``;
* ``find_latest_checkpoint`` (in the mmengine modules that imported it) is
  :func:`find_latest_checkpoint`: an empty, garbled or dangling
  ``last_checkpoint`` raises :class:`LastCheckpointError` naming the file.
"""
import builtins
import io
import os.path as osp
from typing import Optional

from mmengine.logging import print_log

from ..checkpoint.atomic_writes import atomic_write

LAST_CHECKPOINT = 'last_checkpoint'
_MAX_BYTES = 4096
#: mmengine modules holding a reference to ``find_latest_checkpoint``.
_FINDER_MODULES = ('mmengine.runner.checkpoint', 'mmengine.runner', 'mmengine.runner.runner',
                   'mmengine.runner._flexible_runner')


class LastCheckpointError(ValueError):
    """``work_dir/last_checkpoint`` does not name a checkpoint."""


class _AtomicTextFile(io.StringIO):
    """A text buffer written to ``path`` atomically when closed without error."""

    def __init__(self, path: str, encoding: Optional[str]):
        super().__init__()
        self._path, self._encoding = path, encoding or 'utf-8'

    def close(self) -> None:
        if not self.closed:
            text = self.getvalue()
            super().close()
            atomic_write(text, self._path, self._encoding)

    def __exit__(self, exc_type, *args) -> None:
        if exc_type is not None:      # an interrupted write leaves the old file
            super().close()
            return
        self.close()


def open_for_checkpoint_hook(file, mode: str = 'r', *args, **kwargs):
    """``open`` for ``mmengine.hooks.checkpoint_hook``: atomic ``last_checkpoint``."""
    if osp.basename(str(file)) == LAST_CHECKPOINT and mode in ('w', 'wt'):
        return _AtomicTextFile(str(file), kwargs.get('encoding'))
    return builtins.open(file, mode, *args, **kwargs)


def read_last_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint ``work_dir/last_checkpoint`` names (None: no such file).

    Raises:
        LastCheckpointError: the file is empty, is not one line of text, or
            names a local file that does not exist.
    """
    path = osp.join(work_dir, LAST_CHECKPOINT)
    if not osp.exists(path):
        return None
    with builtins.open(path, 'rb') as f:
        raw = f.read(_MAX_BYTES + 1)
    advice = ('Resume from an explicit checkpoint (tools/train.py --resume PATH, or '
              'resume=True with load_from=PATH), or write the path of the last complete '
              f'checkpoint into {path}.')
    try:
        text = raw.decode('utf-8').strip()
    except UnicodeDecodeError:
        text = None
    if text == '':
        raise LastCheckpointError(f'{path} is empty (a run interrupted while writing it). '
                                  + advice)
    if text is None or len(raw) > _MAX_BYTES or not text.isprintable():
        raise LastCheckpointError(f'{path} is garbled: it should hold one checkpoint path, '
                                  f'it starts with {raw[:80]!r}. ' + advice)
    if '://' not in text and not osp.isfile(text):
        raise LastCheckpointError(f'{path} names {text!r}, which is not a file. ' + advice)
    return text


def find_latest_checkpoint(path: str) -> Optional[str]:
    """mmengine's ``find_latest_checkpoint`` that refuses a broken ``last_checkpoint``."""
    found = read_last_checkpoint(path)
    if found is None:
        print_log('Did not find last_checkpoint to be resumed.')
    return found


def install_atomic_last_checkpoint() -> None:
    """Install both parts of the fix (see the module docstring). Idempotent."""
    import importlib
    hook_module = importlib.import_module('mmengine.hooks.checkpoint_hook')
    hook_module.open = open_for_checkpoint_hook
    for name in _FINDER_MODULES:
        module = importlib.import_module(name)
        if hasattr(module, 'find_latest_checkpoint'):
            module.find_latest_checkpoint = find_latest_checkpoint
