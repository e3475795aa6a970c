"""Evaluate a checkpoint with the test loop of its toolbox (mmpretrain or mmseg).

mmseg configs print mIoU, mAcc, aAcc and the per-class IoU table (IoUMetric);
mmpretrain configs print top-1/top-5 accuracy. The metrics are also written to
``<work_dir>/test_metrics.json``.

Examples::

    python tools/test.py configs/seg/upernet_swin_l_ade20k.py CKPT --tta
    python tools/test.py CONFIG CKPT --show-dir vis/ --out preds/
    tools/dist_test.sh CONFIG CKPT 8
"""

import argparse
import json
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import mmdiverse  # noqa: F401  (registers the modules the configs name)
from mmdiverse.apis import (
    add_class_check,
    add_common_args,
    check_checkpoint_paths,
    check_data_roots,
    load_config,
    toolbox_of,
)
from mmdiverse.checkpoint import atomic_write


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config file (mmpretrain or mmseg)')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--out',
        help='mmseg: directory for the predicted label maps; '
        'mmpretrain: a .pkl file for the raw predictions',
    )
    parser.add_argument('--show-dir', help='directory for painted predictions')
    parser.add_argument(
        '--tta', action='store_true', help='test-time augmentation (multi-scale + flip for mmseg)'
    )
    add_common_args(parser)
    return parser.parse_args()


def enable_visualization(cfg, show_dir):
    """Turn on the toolbox's visualization hook and point it at ``show_dir``."""
    hook = cfg.default_hooks.get('visualization')
    if hook is None:
        raise KeyError('--show-dir needs default_hooks.visualization in the config')
    if toolbox_of(cfg) == 'mmseg':
        hook['draw'] = True
        hook['interval'] = 1  # every image, not mmseg's default of every 50th
        cfg.visualizer['save_dir'] = show_dir
    else:
        hook['enable'] = True
        hook['out_dir'] = show_dir


def main():
    args = parse_args()
    cfg = load_config(args)
    cfg.load_from = args.checkpoint
    if args.show_dir:
        enable_visualization(cfg, args.show_dir)
    if args.tta:
        if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
            raise KeyError('--tta needs tta_model and tta_pipeline in the config')
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    if args.out:
        if toolbox_of(cfg) == 'mmseg':
            cfg.test_evaluator['output_dir'] = args.out
            cfg.test_evaluator['keep_results'] = True
        else:
            evaluators = cfg.test_evaluator
            evaluators = list(evaluators) if isinstance(evaluators, (list, tuple)) else [evaluators]
            cfg.test_evaluator = evaluators + [dict(type='DumpResults', out_file_path=args.out)]

    add_class_check(cfg)
    check_data_roots(cfg, ('test',))
    # The test loop reads the tested checkpoint (load_from), not the init_cfg ones.
    check_checkpoint_paths(cfg, init_cfg=False)
    # runner_type (ExactResumeRunner in this project's runtime fragments) as stock tools do.
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    metrics = runner.test()
    if is_main_process():
        # Machine-readable copy of what the test loop printed.
        path = osp.join(cfg.work_dir, 'test_metrics.json')
        atomic_write(json.dumps(metrics, indent=2, default=float), path)
        runner.logger.info(f'metrics written to {path}')


if __name__ == '__main__':
    main()
