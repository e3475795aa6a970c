"""Command-line conventions shared by ``tools/train.py`` and ``tools/test.py``.

Both tools accept mmpretrain and mmseg configs alike: everything here acts on
keys that the two toolboxes share (``work_dir``, ``launcher``, ``env_cfg``,
dataloaders), and the toolbox is told apart by the config's ``default_scope``.
"""

import argparse
import os
import os.path as osp
import warnings
from typing import Sequence

import torch
from mmengine.config import Config, DictAction


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Arguments every launcher tool takes (as in mmpretrain and mmseg)."""
    parser.add_argument(
        '--work-dir', help='directory for logs and checkpoints (default: work_dirs/<config name>)'
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config keys, e.g. model.backbone.drop_path_rate=0.2 '
        'train_dataloader.batch_size=64',
    )
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher',
    )
    # torch.distributed launchers pass --local-rank (newer) or --local_rank.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def load_config(args: argparse.Namespace) -> Config:
    """Read ``args.config`` and apply the options shared by train and test.

    Args:
        args: parsed arguments with ``config``, ``work_dir``, ``cfg_options``,
            ``launcher`` and ``local_rank``.

    Returns:
        Config: the merged config.
    """
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config file not found: {args.config}')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', osp.splitext(osp.basename(args.config))[0])
    choose_dist_backend(cfg)
    setup_cpu_distributed(cfg)
    return cfg


# The layout each dataset type reads below its data_root (quoted in errors).
EXPECTED_LAYOUTS = {
    'ImageNet': 'train/<wnid>/*.JPEG, val/<wnid>/*.JPEG (optional meta/train.txt, meta/val.txt)',
    'CustomDataset': '<split>/<class>/<image> folders, or meta/<split>.txt listing '
    '"<path> <label>" lines',
    'ADE20KDataset': 'images/{training,validation}/*.jpg and '
    'annotations/{training,validation}/*.png',
    'CityscapesDataset': 'leftImg8bit/{train,val}/<city>/*_leftImg8bit.png and '
    'gtFine/{train,val}/<city>/*_gtFine_labelTrainIds.png '
    '(tools/dataset_converters/cityscapes.py makes them)',
    'BaseSegDataset': 'images/<split>/*<img_suffix> and annotations/<split>/*<seg_map_suffix>',
}


def check_data_roots(cfg: Config, splits: Sequence[str] = ('train', 'val', 'test')) -> None:
    """Fail before building anything when a dataloader's ``data_root`` is missing
    or is a file.

    Args:
        cfg: the config.
        splits: the dataloaders the run will use (``'train'``, ``'val'``, ``'test'``).

    Raises:
        FileNotFoundError: naming the config key, the path and the layout
            the dataset type expects below it.
        NotADirectoryError: the same, for a ``data_root`` that is a file.
    """
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        dataset = loader.get('dataset') if isinstance(loader, dict) else None
        while isinstance(dataset, dict) and 'dataset' in dataset:  # wrappers
            dataset = dataset['dataset']
        if not isinstance(dataset, dict) or not dataset.get('data_root'):
            continue
        root = dataset['data_root']
        if '://' in str(root) or osp.isdir(root):
            continue
        dataset_type = str(dataset.get('type', '')).split('.')[-1]
        layout = EXPECTED_LAYOUTS.get(dataset_type, 'see the dataset class documentation')
        is_file = osp.isfile(root)
        error = NotADirectoryError if is_file else FileNotFoundError
        problem = 'is a file, expected a directory' if is_file else 'does not exist'
        raise error(
            f'{split}_dataloader.dataset.data_root={root!r} {problem} '
            f'(from {osp.abspath(root)}). {dataset_type or "The dataset"} expects: {layout}. '
            f'Point it elsewhere with --cfg-options {split}_dataloader.dataset.data_root=PATH'
        )


def choose_dist_backend(cfg: Config) -> None:
    """Fall back from NCCL to gloo when no GPU is visible.

    Recipes name ``env_cfg.dist_cfg.backend='nccl'``; on a CPU-only machine
    that backend cannot start, so ``tools/dist_train.sh CONFIG 2`` would fail.
    The choice can always be forced with
    ``--cfg-options env_cfg.dist_cfg.backend=...``.
    """
    dist_cfg = cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    if dist_cfg.get('backend', 'nccl') == 'nccl' and not torch.cuda.is_available():
        if cfg.launcher != 'none':
            warnings.warn('No GPU is visible: using the gloo backend instead of nccl.')
        dist_cfg['backend'] = 'gloo'


def setup_cpu_distributed(cfg: Config) -> None:
    """``torchrun`` without a GPU: start the process group (gloo) here.

    mmengine's pytorch launcher calls ``torch.cuda.set_device``, which fails
    without a GPU, and wraps the model in DDP with ``device_ids=[LOCAL_RANK]``,
    which DDP refuses for a CPU module. With the group already started the
    Runner skips its own start, and ``device_ids=None`` lets DDP wrap a CPU
    module. A config's own ``model_wrapper_cfg`` is kept. ``dist_cfg.timeout``
    (seconds) bounds how long a rank waits in a collective for a dead peer.
    """
    if cfg.launcher != 'pytorch' or torch.cuda.is_available():
        return
    import datetime

    import torch.distributed as dist

    if not dist.is_initialized():
        dist_cfg = cfg.env_cfg.get('dist_cfg', {})
        kwargs = {}
        if dist_cfg.get('timeout') is not None:
            kwargs['timeout'] = datetime.timedelta(seconds=dist_cfg['timeout'])
        dist.init_process_group(backend=dist_cfg.get('backend', 'gloo'), **kwargs)
    _sync_bn_to_bn(cfg.model)
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel',
            device_ids=None,
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False),
        )


def _sync_bn_to_bn(node) -> None:
    """SyncBN only works on GPU modules (DDP refuses it on the CPU): use BN."""
    if isinstance(node, dict):
        if node.get('type') in ('SyncBN', 'MMSyncBN'):
            warnings.warn('No GPU is visible: replacing SyncBN by BN in the model.')
            node['type'] = 'BN'
        for value in node.values():
            _sync_bn_to_bn(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _sync_bn_to_bn(value)


def check_checkpoint_paths(cfg: Config, init_cfg: bool = True) -> None:
    """Fail before building anything when a checkpoint the run would load is missing.

    Looks at ``load_from`` and, with ``init_cfg``, every
    ``init_cfg=dict(type='Pretrained', checkpoint=...)`` in ``cfg.model``
    (training reads them; testing does not). URLs are left to the loader.

    Raises:
        FileNotFoundError: naming the config key and the path.
    """
    missing = []

    def visit(node, key):
        if isinstance(node, dict):
            if node.get('type') == 'Pretrained' and isinstance(node.get('checkpoint'), str):
                missing.append((f'{key}.checkpoint', node['checkpoint']))
            for child, value in node.items():
                visit(value, f'{key}.{child}')
        elif isinstance(node, (list, tuple)):
            for index, value in enumerate(node):
                visit(value, f'{key}[{index}]')

    if init_cfg:
        visit(cfg.get('model'), 'model')
    if isinstance(cfg.get('load_from'), str):
        missing.append(('load_from', cfg.load_from))
    for key, path in missing:
        if '://' not in path and not osp.isfile(osp.expanduser(path)):
            raise FileNotFoundError(f'{key}={path!r}: checkpoint file not found')


def check_previous_run(cfg: Config, overwrite: bool = False) -> None:
    """Refuse to start from scratch over a previous run's checkpoints.

    mmengine writes ``epoch_N.pth`` / ``iter_N.pth`` and ``last_checkpoint``
    into ``work_dir`` under fixed names, so a run started without ``--resume``
    in the directory of an earlier one silently overwrites its checkpoints.

    Args:
        cfg: the config (``work_dir``, ``resume``).
        overwrite: start over anyway (``tools/train.py --overwrite``).

    Raises:
        FileExistsError: naming the directory and its last checkpoint.
    """
    marker = osp.join(cfg.work_dir, 'last_checkpoint')
    if cfg.get('resume') or overwrite or not osp.isfile(marker):
        return
    from mmdiverse.compat import LastCheckpointError, read_last_checkpoint

    try:
        last = read_last_checkpoint(cfg.work_dir)
    except LastCheckpointError as error:
        last = f'unknown: {error}'
    raise FileExistsError(
        f'work_dir {cfg.work_dir!r} holds the checkpoints of a previous run (last: {last}). '
        'Pass --resume to continue it, --work-dir DIR to start a separate run, or '
        '--overwrite to start over here (its checkpoints will be overwritten).'
    )


def add_class_check(cfg: Config) -> None:
    """Add ``ClassConsistencyHook`` to the run unless the config names it already.

    It compares every head's ``num_classes`` with the data set and the train
    and val class lists before the first iteration
    (:class:`mmdiverse.engine.hooks.ClassConsistencyHook`).
    """
    hooks = list(cfg.get('custom_hooks') or [])
    if not any(
        str(hook.get('type', '')).split('.')[-1] == 'ClassConsistencyHook'
        for hook in hooks
        if isinstance(hook, dict)
    ):
        cfg.custom_hooks = hooks + [dict(type='ClassConsistencyHook')]


def toolbox_of(cfg: Config) -> str:
    """``'mmseg'`` or ``'mmpretrain'``, from the config's ``default_scope``."""
    scope = cfg.get('default_scope', 'mmpretrain')
    if scope not in ('mmseg', 'mmpretrain'):
        raise ValueError(
            f'default_scope={scope!r}: tools/train.py and tools/test.py '
            'support mmpretrain and mmseg configs only'
        )
    return scope


def build_model(cfg: Config):
    """Build ``cfg.model`` in the config's scope, as ``Runner`` would.

    Like ``Runner``, a top-level ``data_preprocessor`` (mmpretrain configs keep
    it there) is merged into the model config when the model gives none.
    """
    from mmengine.registry import MODELS, init_default_scope

    init_default_scope(toolbox_of(cfg))
    model_cfg = cfg.model.copy()
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    return MODELS.build(model_cfg)
