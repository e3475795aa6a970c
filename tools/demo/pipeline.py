"""The demo's data and its pretrain -> test -> transfer -> test steps.

Each step runs ``tools/train.py`` / ``tools/test.py`` as a user would, through
:class:`tools.demo.progress.StepRunner`; :func:`measure` takes the redundancy
report of the trained backbones in-process.
"""

import json
import os
import os.path as osp
import sys
import time

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PRETRAIN_CONFIGS = {
    'baseline': 'configs/demo/vit_tiny_shapes.py',
    'diverse': 'configs/demo/vit_tiny_shapes_diverse.py',
}
SEG_CONFIG = 'configs/demo/upernet_vit_tiny_shapes.py'
SEED = 0  # randomness.seed of every demo config
# Sizes of the default run and of --quick (what the tests run). log_interval:
# iterations between mmengine's log lines, i.e. between progress updates.
SCALES = {
    'default': dict(
        train_per_class=750,
        val_per_class=100,
        seg_train=320,
        seg_val=80,
        pretrain_epochs=30,
        seg_iters=500,
        analysis_images=128,
        ablation_epochs=3,
        log_interval=10,
    ),
    'quick': dict(
        train_per_class=8,
        val_per_class=4,
        seg_train=8,
        seg_val=4,
        pretrain_epochs=2,
        seg_iters=4,
        analysis_images=8,
        ablation_epochs=2,
        log_interval=1,
    ),
}


def tool_env():
    return dict(os.environ, PYTHONPATH=REPO_ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))


def run_tool(steps, name, *args, max_epochs=None):
    """Run ``python tools/...`` as a user would, as step ``name`` of ``steps``."""
    work_dir = args[args.index('--work-dir') + 1]
    return steps.run(
        name,
        [sys.executable, *args],
        osp.join(work_dir, 'tool_output.log'),
        cwd=REPO_ROOT,
        env=tool_env(),
        max_epochs=max_epochs,
    )


def read_metrics(work_dir):
    with open(osp.join(work_dir, 'test_metrics.json')) as f:
        return json.load(f)


def make_data(data_root, scale):
    from mmdiverse.datasets import make_classification_set, make_segmentation_set

    cls_root, seg_root = osp.join(data_root, 'shapes_cls'), osp.join(data_root, 'shapes_seg')
    sizes = {k: scale[k] for k in ('train_per_class', 'val_per_class', 'seg_train', 'seg_val')}
    stamp = json.dumps(sizes, sort_keys=True)
    for root, make in (
        (
            cls_root,
            lambda r: make_classification_set(
                r,
                num_classes=4,
                train_per_class=scale['train_per_class'],
                val_per_class=scale['val_per_class'],
                img_size=32,
            ),
        ),
        (
            seg_root,
            lambda r: make_segmentation_set(
                r,
                num_classes=4,
                num_train=scale['seg_train'],
                num_val=scale['seg_val'],
                img_size=64,
            ),
        ),
    ):
        marker = osp.join(root, '.complete')
        if osp.isfile(marker) and open(marker).read() == stamp:
            print(f'data: reusing {root}')
            continue
        print(f'data: writing {root}')
        make(root)
        with open(marker, 'w') as f:
            f.write(stamp)
    return cls_root, seg_root


def run_variant(steps, name, cls_root, seg_root, work_dir, scale, seed=SEED):
    """Pretrain, evaluate, transfer, fine-tune and evaluate one variant with
    ``randomness.seed=seed``.

    Work directories are ``pretrain_<name>`` and ``seg_<name>`` for the
    configs' own seed, with ``_seed<seed>`` appended for any other. Each run's
    ``experiment_name`` names the variant, not the seed, so that
    :mod:`tools.analysis.compare_runs` groups the seeds of a variant.
    """
    start = time.time()
    config = PRETRAIN_CONFIGS[name]
    suffix, label = ('', name) if seed == SEED else (f'_seed{seed}', f'{name} seed {seed}')
    seed_opts = [] if seed == SEED else [f'randomness.seed={seed}']
    pre_dir = osp.join(work_dir, f'pretrain_{name}{suffix}')
    epochs, interval = scale['pretrain_epochs'], scale['log_interval']
    data_opts = [f'{s}_dataloader.dataset.data_root={cls_root}' for s in ('train', 'val', 'test')]
    # --overwrite: a demo re-run replaces the previous demo run.
    run_tool(
        steps,
        f'pretrain {label}',
        'tools/train.py',
        config,
        '--work-dir',
        pre_dir,
        '--overwrite',
        '--cfg-options',
        *data_opts,
        *seed_opts,
        f'experiment_name=pretrain_{name}',
        f'train_cfg.max_epochs={epochs}',
        f'default_hooks.logger.interval={interval}',
        max_epochs=epochs,
    )
    checkpoint = osp.join(pre_dir, f'epoch_{epochs}.pth')
    # logger.interval=1 in the test loops: a line per batch (mmengine logs a test
    # loop shorter than the interval not at all)
    run_tool(
        steps,
        f'test {label}',
        'tools/test.py',
        config,
        checkpoint,
        '--work-dir',
        osp.join(pre_dir, 'test'),
        '--cfg-options',
        *data_opts,
        'default_hooks.logger.interval=1',
    )
    top1 = read_metrics(osp.join(pre_dir, 'test'))['accuracy/top1']

    seg_dir = osp.join(work_dir, f'seg_{name}{suffix}')
    _, seg_metrics = run_transfer(
        steps,
        label,
        SEG_CONFIG,
        checkpoint,
        seg_dir,
        seg_root,
        scale,
        f'transfer_{name}',
        *seed_opts,
    )
    return dict(
        seed=seed,
        checkpoint=checkpoint,
        pretrain_dir=pre_dir,
        seg_dir=seg_dir,
        top1=top1,
        mIoU=seg_metrics['mIoU'],
        mAcc=seg_metrics['mAcc'],
        aAcc=seg_metrics['aAcc'],
        wall_time_s=round(time.time() - start, 1),
    )


def run_transfer(steps, label, config, checkpoint, seg_dir, seg_root, scale, experiment, *opts):
    """Fine-tune UperNet ``config`` from ``checkpoint`` for ``scale['seg_iters']``
    iterations in ``seg_dir`` and test it with mmseg's test loop (``opts``: further
    ``--cfg-options``); return the fine-tuned checkpoint and its test metrics
    (``mIoU``, ``mAcc``, ``aAcc``)."""
    seg_opts = [f'{s}_dataloader.dataset.data_root={seg_root}' for s in ('train', 'val', 'test')]
    iters = scale['seg_iters']
    seg_checkpoint = osp.join(seg_dir, f'iter_{iters}.pth')
    run_tool(
        steps,
        f'UperNet {label}',
        'tools/train.py',
        config,
        '--work-dir',
        seg_dir,
        '--overwrite',
        '--cfg-options',
        *seg_opts,
        *opts,
        f'experiment_name={experiment}',
        f'model.backbone.init_cfg.checkpoint={checkpoint}',
        f'train_cfg.max_iters={iters}',
        f'train_cfg.val_interval={iters}',
        f'default_hooks.logger.interval={scale["log_interval"]}',
    )
    run_tool(
        steps,
        f'UperNet test {label}',
        'tools/test.py',
        config,
        seg_checkpoint,
        '--work-dir',
        osp.join(seg_dir, 'test'),
        '--cfg-options',
        *seg_opts,
        'default_hooks.logger.interval=1',
    )
    return seg_checkpoint, read_metrics(osp.join(seg_dir, 'test'))


def measure(checkpoints, config, cls_root, num_images):
    """Redundancy report of each checkpoint's backbone on the test images."""
    import torch
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmpretrain.registry import DATASETS

    import mmdiverse  # noqa: F401
    from mmdiverse.analysis import redundancy_report
    from mmdiverse.apis import build_model
    from mmdiverse.checkpoint import load_pretrained_backbone

    cfg = Config.fromfile(osp.join(REPO_ROOT, config))
    cfg.test_dataloader.dataset.data_root = cls_root
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    samples = [dataset[i] for i in range(min(num_images, len(dataset)))]
    batches = [pseudo_collate(samples[i : i + 32]) for i in range(0, len(samples), 32)]
    reports = {}
    for name, checkpoint in checkpoints.items():
        model = build_model(cfg)
        load_pretrained_backbone(model.backbone, checkpoint, logger=None)
        model.eval()
        with torch.no_grad():
            reports[name] = redundancy_report(model, batches)
    return reports
