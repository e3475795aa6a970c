"""One training run as mmengine left it in its work directory.

mmengine's ``LocalVisBackend`` writes, per launch, ``<work_dir>/<timestamp>/
vis_data/scalars.json`` (one JSON object per line: a training line every
``default_hooks.logger.interval`` iterations, a metrics line after each
validation) and ``vis_data/config.py`` (the resolved config). A resumed run
holds several launches; they are read in launch order, a later record of the
same step replacing an earlier one.
"""

import glob
import json
import os.path as osp
from typing import Dict, List, NamedTuple

#: Keys of a record that are bookkeeping, not a measured quantity.
BOOKKEEPING = ('step', 'epoch', 'iter', 'lr', 'base_lr')


class RunScalars(NamedTuple):
    """The logged scalars and the config of one work directory.

    Attributes:
        work_dir (str): the directory read.
        train (list[dict]): training records (they hold ``lr``), by step.
        val (list[dict]): validation records (metrics), by step.
        config (dict): the resolved config of the last launch.
        config_file (str): where ``config`` was read from.
    """

    work_dir: str
    train: List[dict]
    val: List[dict]
    config: dict
    config_file: str

    def metric_names(self) -> List[str]:
        """Keys of the validation records that are metrics (``accuracy/top1``,
        ``mIoU``, ...), in first-seen order; timing keys excluded."""
        names = {}
        for record in self.val:
            names.update(
                (k, None) for k in record if k not in BOOKKEEPING and k not in ('time', 'data_time')
            )
        return list(names)

    def loss_names(self) -> List[str]:
        """Keys of the training records holding ``loss`` (the total and each
        term), in first-seen order."""
        names = {}
        for record in self.train:
            names.update((k, None) for k in record if 'loss' in k)
        return list(names)


def scalar_files(work_dir: str) -> List[str]:
    """The ``scalars.json`` files of ``work_dir``'s launches, oldest first
    (mmengine names each launch directory by its start time)."""
    return sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))


def read_records(files: List[str]) -> List[dict]:
    """Records of ``files`` in order; a later record of the same step and
    kind (training or validation) replaces an earlier one (resumed runs)."""
    by_key: Dict[tuple, dict] = {}
    for path in files:
        with open(path) as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise ValueError(f'{path}, line {number}: not JSON ({error})') from None
                by_key[(is_train_record(record), record.get('step'))] = record
    return list(by_key.values())


def is_train_record(record: dict) -> bool:
    """Training lines carry the learning rate; validation lines do not."""
    return 'lr' in record or 'base_lr' in record


def read_run(work_dir: str) -> RunScalars:
    """Read one work directory.

    Args:
        work_dir: a ``tools/train.py`` work directory.

    Returns:
        RunScalars: its records, sorted by step, and its config.

    Raises:
        FileNotFoundError: ``work_dir`` holds no ``*/vis_data/scalars.json``
            or no ``config.py`` beside it (the message names the directory).
    """
    from mmengine.config import Config

    if not osp.isdir(work_dir):
        raise FileNotFoundError(f'{work_dir}: not a directory')
    files = scalar_files(work_dir)
    if not files:
        raise FileNotFoundError(
            f'{work_dir}: no scalars (no */vis_data/scalars.json); '
            'is it a tools/train.py work directory?'
        )
    records = read_records(files)
    if not records:
        raise FileNotFoundError(f'{work_dir}: its scalars.json files are empty')
    configs = [osp.join(osp.dirname(f), 'config.py') for f in files]
    configs = [c for c in configs if osp.isfile(c)]
    if not configs:
        raise FileNotFoundError(f'{work_dir}: no vis_data/config.py beside its scalars')
    # read as data: the run's custom_imports are not imported here
    config = Config.fromfile(configs[-1], import_custom_modules=False).to_dict()
    step = lambda record: record.get('step', 0)  # noqa: E731
    return RunScalars(
        work_dir=work_dir,
        train=sorted((r for r in records if is_train_record(r)), key=step),
        val=sorted((r for r in records if not is_train_record(r)), key=step),
        config=config,
        config_file=configs[-1],
    )
