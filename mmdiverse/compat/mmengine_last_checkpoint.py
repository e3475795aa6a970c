"""mmengine's ``last_checkpoint`` file: read with a clear error (mmengine 0.10.x).

What is broken (mmengine 0.10.0-0.10.7): ``CheckpointHook`` writes
``work_dir/last_checkpoint`` with a plain ``open(save_file, 'w')``, which
truncates the file before writing it, so a job killed in between leaves it
empty; ``Runner.load_or_resume`` reads it with ``find_latest_checkpoint``,
which returns whatever the file holds -- empty or garbled -- as a path, and
``--resume`` fails with ``checkpoint file not found:`` and an empty name.

The fix lives in :class:`mmdiverse.engine.hooks.SafeCheckpointHook` (a
``CheckpointHook`` subclass named in the configs): it writes the file
atomically, and before resuming reads it with :func:`read_last_checkpoint`,
which raises :class:`LastCheckpointError` naming the file and the newest
intact checkpoint beside it. Nothing in mmengine is replaced.
"""

import builtins
import os.path as osp
from typing import Optional

from ..checkpoint.digest import newest_intact_checkpoint

LAST_CHECKPOINT = 'last_checkpoint'
_MAX_BYTES = 4096


class LastCheckpointError(ValueError):
    """``work_dir/last_checkpoint`` does not name a checkpoint."""


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
    intact = newest_intact_checkpoint(work_dir)
    newest = f' The newest intact checkpoint there is {intact}.' if intact else ''
    advice = (
        'Resume from an explicit checkpoint (tools/train.py --resume PATH, or '
        'resume=True with load_from=PATH), or write the path of the last complete '
        f'checkpoint into {path}.{newest}'
    )
    try:
        text = raw.decode('utf-8').strip()
    except UnicodeDecodeError:
        text = None
    if text == '':
        raise LastCheckpointError(
            f'{path} is empty (a run interrupted while writing it). ' + advice
        )
    if text is None or len(raw) > _MAX_BYTES or not text.isprintable():
        raise LastCheckpointError(
            f'{path} is garbled: it should hold one checkpoint path, '
            f'it starts with {raw[:80]!r}. ' + advice
        )
    if '://' not in text and not osp.isfile(text):
        raise LastCheckpointError(f'{path} names {text!r}, which is not a file. ' + advice)
    return text
