"""Read progress out of the lines an mmengine runner logs.

mmengine's ``LogProcessor`` writes one line per logging interval, e.g.::

    12/01 13:02:11 - mmengine - INFO - Epoch(train)  [3][50/94]  base_lr: 1.0000e-03 \
lr: 9.5e-04  eta: 0:03:12  time: 0.0912  data_time: 0.0040  grad_norm: 1.2  loss: 0.8012
    12/01 13:09:40 - mmengine - INFO - Iter(train) [ 50/500]  lr: 1.0e-03  eta: 0:02:10 ...
    12/01 13:10:02 - mmengine - INFO - Epoch(test) [20/80]    eta: 0:00:04  time: 0.02 ...

:func:`parse_log_line` turns such a line into a :class:`LogProgress` (loop
mode, epoch, iteration out of its total, ``eta`` and the logged ``loss``), so a
parent process can show the progress of ``tools/train.py`` / ``tools/test.py``
running as a subprocess without changing what they log.
"""

import re
from typing import NamedTuple, Optional

# "Epoch(train)  [3][ 50/94]", "Epoch(test) [20/80]", "Iter(train) [ 50/500]"
_POSITION = re.compile(
    r'\b(?P<unit>Epoch|Iter)\((?P<mode>train|val|test)\)\s*'
    r'(?:\[\s*(?P<epoch>\d+)\]\s*)?\[\s*(?P<iter>\d+)/(?P<total>\d+)\]'
)
# "eta: 0:03:12" or "eta: 1 day, 2:03:04" (datetime.timedelta's str)
_ETA = re.compile(r'\beta: (?P<eta>(?:\d+ days?, )?\d+:\d\d:\d\d)')
# the total "loss: 0.8012" (not "loss_patch_cos: ..." nor "decode.loss_ce: ...")
_LOSS = re.compile(r'(?:^|\s)loss: (?P<loss>[-+0-9.eE]+|nan|inf|-inf)(?=\s|$)')


class LogProgress(NamedTuple):
    """Where a run stands, from one log line.

    Attributes:
        mode (str): ``'train'``, ``'val'`` or ``'test'``.
        by_epoch (bool): the line is ``Epoch(...)`` (else ``Iter(...)``).
        epoch (int | None): current epoch (epoch-based train / val lines).
        iter (int): iteration within the epoch (epoch-based) or of the run
            (iteration-based train), or batch of the val / test loop.
        total (int): what ``iter`` counts up to.
        eta (str | None): mmengine's estimate of the time left, as logged.
        loss (float | None): the logged ``loss`` (train lines).
    """

    mode: str
    by_epoch: bool
    epoch: Optional[int]
    iter: int
    total: int
    eta: Optional[str]
    loss: Optional[float]


def parse_log_line(line: str) -> Optional[LogProgress]:
    """Parse one line of mmengine's log.

    Args:
        line: a line of the runner's output (any other line is fine).

    Returns:
        LogProgress | None: None for lines that are not an iteration line of
        mmengine's ``LogProcessor`` (config dump, warnings, metric tables).
    """
    position = _POSITION.search(line)
    if position is None:
        return None
    eta = _ETA.search(line, position.end())
    loss = _LOSS.search(line, position.end())
    epoch = position.group('epoch')
    return LogProgress(
        mode=position.group('mode'),
        by_epoch=position.group('unit') == 'Epoch',
        epoch=int(epoch) if epoch is not None else None,
        iter=int(position.group('iter')),
        total=int(position.group('total')),
        eta=eta.group('eta') if eta else None,
        loss=float(loss.group('loss')) if loss else None,
    )
