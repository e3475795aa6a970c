"""Train an mmpretrain or mmseg model from a config.

Examples::

    python tools/train.py configs/demo/vit_tiny_shapes_diverse.py
    python tools/train.py CONFIG --resume            # continue from work_dir's last checkpoint
    python tools/train.py CONFIG --resume PATH.pth   # continue from a given checkpoint
    python tools/train.py CONFIG --overwrite         # start over where a run left checkpoints
    python tools/train.py CONFIG --check-data        # decode every image and label first
    tools/dist_train.sh CONFIG 8 --amp               # 8 processes through torchrun
"""

import argparse

from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import mmdiverse  # noqa: F401  (registers the modules the configs name)
from mmdiverse.apis import (
    add_class_check,
    add_common_args,
    check_checkpoint_paths,
    check_data,
    check_data_roots,
    check_previous_run,
    load_config,
)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config file (mmpretrain or mmseg)')
    parser.add_argument(
        '--resume',
        nargs='?',
        const='auto',
        help='resume from the given checkpoint, or with no value from the '
        'latest checkpoint in the work directory',
    )
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help="start from scratch even if the work directory holds a previous run's "
        'checkpoints (they are overwritten); without it such a run is refused',
    )
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate by the actual total batch size '
        '(auto_scale_lr.base_batch_size in the config)',
    )
    parser.add_argument(
        '--no-validate', action='store_true', help='skip validation during training'
    )
    parser.add_argument(
        '--check-data',
        action='store_true',
        help='before training, read and decode every image and label map of '
        'the splits the run uses (in parallel) and list every bad file',
    )
    add_common_args(parser)
    return parser.parse_args()


def main():
    args = parse_args()
    cfg = load_config(args)
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    if args.auto_scale_lr:
        cfg.setdefault('auto_scale_lr', {})['enable'] = True
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None

    add_class_check(cfg)
    check_previous_run(cfg, args.overwrite)
    splits = ('train',) if args.no_validate else ('train', 'val')
    check_data_roots(cfg, splits)
    if args.check_data:
        checked = check_data(cfg, splits)
        print(
            f'--check-data: {checked["samples"]} samples of {", ".join(splits)} decoded in '
            f'{checked["seconds"]:.1f} s, none bad',
            flush=True,
        )
    if not cfg.get('resume'):
        check_checkpoint_paths(cfg)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    runner.train()


if __name__ == '__main__':
    main()
