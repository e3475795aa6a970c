"""The main job on the embedded default data, end to end, on the CPU.

1. writes a synthetic shape-classification set (ImageNet layout) and a shape-
   segmentation set (ADE20K layout) under ``--data-root``;
2. pretrains the demo ViT twice through ``tools/train.py`` -- regularizers off
   (``configs/demo/vit_tiny_shapes.py``) and on (``..._diverse.py``) -- and
   evaluates top-1 with ``tools/test.py``;
3. transfers each checkpoint into UperNet (``configs/demo/upernet_vit_tiny_shapes.py``),
   fine-tunes it and evaluates mIoU with mmseg's test loop;
4. measures the three redundancy levels of both backbones
   (:func:`mmdiverse.analysis.redundancy_report`): patch similarity, attention-head
   similarity, q/k/v condition numbers;
5. the per-term ablation (``tools/demo_ablation.py``): the same ViT and data
   trained with each diversity term alone, each term's effect on its own measure.

Writes ``summary.json``, ``summary.md`` and ``patch_similarity.png`` to
``--work-dir`` (``ablation.json`` / ``ablation.md`` with ``--ablation``). Each step shows a live progress line (``tools/demo_progress.py``);
its full output goes to ``tool_output.log`` in the step's work directory, which
``summary.md`` lists with each step's time. ``--ablation`` runs step 5 alone,
``--skip-ablation`` steps 1-4. Every number in the summary is measured by this run.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

from demo_ablation import ABLATION_WEIGHTS, ablation_report, parse_weights, run_ablation
from demo_progress import StepRunner

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PRETRAIN_CONFIGS = {
    'baseline': 'configs/demo/vit_tiny_shapes.py',
    'diverse': 'configs/demo/vit_tiny_shapes_diverse.py',
}
SEG_CONFIG = 'configs/demo/upernet_vit_tiny_shapes.py'
SEED = 0  # randomness.seed of every demo config
# Sizes of the default run and of --quick (what the tests run). log_interval:
# iterations between mmengine's log lines, i.e. between progress updates.
SCALES = {
    'default': dict(train_per_class=750, val_per_class=100, seg_train=320, seg_val=80,
                    pretrain_epochs=30, seg_iters=500, analysis_images=128,
                    ablation_epochs=3, log_interval=10),
    'quick': dict(train_per_class=8, val_per_class=4, seg_train=8, seg_val=4,
                  pretrain_epochs=2, seg_iters=4, analysis_images=8,
                  ablation_epochs=2, log_interval=1),
}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data-root', default='data/demo')
    parser.add_argument('--quick', action='store_true',
                        help='a reduced run (a few iterations) that checks the pipeline; '
                        'no ablation unless --ablation')
    group = parser.add_mutually_exclusive_group()
    group.add_argument('--ablation', action='store_true',
                       help='only the per-term ablation (each diversity term alone)')
    group.add_argument('--skip-ablation', action='store_true',
                       help='only the pretraining / segmentation pipeline')
    parser.add_argument('--ablation-epochs', type=int,
                        help='epochs of each ablation run (default: the scale\'s)')
    parser.add_argument('--weight', nargs='+', default=[], metavar='TERM=W[,W...]',
                        help='loss_weight(s) of a term in the ablation, one run each, e.g. '
                        f'attn_div=10 (defaults: {ABLATION_WEIGHTS})')
    return parser.parse_args()


def tool_env():
    return dict(os.environ, PYTHONPATH=REPO_ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))


def run_tool(steps, name, *args, max_epochs=None):
    """Run ``python tools/...`` as a user would, as step ``name`` of ``steps``."""
    work_dir = args[args.index('--work-dir') + 1]
    return steps.run(name, [sys.executable, *args], osp.join(work_dir, 'tool_output.log'),
                     cwd=REPO_ROOT, env=tool_env(), max_epochs=max_epochs)


def read_metrics(work_dir):
    with open(osp.join(work_dir, 'test_metrics.json')) as f:
        return json.load(f)


def make_data(data_root, scale):
    from mmdiverse.datasets import make_classification_set, make_segmentation_set
    cls_root, seg_root = osp.join(data_root, 'shapes_cls'), osp.join(data_root, 'shapes_seg')
    sizes = {k: scale[k] for k in ('train_per_class', 'val_per_class', 'seg_train', 'seg_val')}
    stamp = json.dumps(sizes, sort_keys=True)
    for root, make in ((cls_root, lambda r: make_classification_set(
            r, num_classes=4, train_per_class=scale['train_per_class'],
            val_per_class=scale['val_per_class'], img_size=32)),
                       (seg_root, lambda r: make_segmentation_set(
                           r, num_classes=4, num_train=scale['seg_train'],
                           num_val=scale['seg_val'], img_size=64))):
        marker = osp.join(root, '.complete')
        if osp.isfile(marker) and open(marker).read() == stamp:
            print(f'data: reusing {root}')
            continue
        print(f'data: writing {root}')
        make(root)
        with open(marker, 'w') as f:
            f.write(stamp)
    return cls_root, seg_root


def run_variant(steps, name, cls_root, seg_root, work_dir, scale):
    """Pretrain, evaluate, transfer, fine-tune and evaluate one variant."""
    start = time.time()
    config = PRETRAIN_CONFIGS[name]
    pre_dir = osp.join(work_dir, f'pretrain_{name}')
    epochs, interval = scale['pretrain_epochs'], scale['log_interval']
    data_opts = [f'{s}_dataloader.dataset.data_root={cls_root}' for s in ('train', 'val', 'test')]
    # --overwrite: a demo re-run replaces the previous demo run.
    run_tool(steps, f'pretrain {name}', 'tools/train.py', config, '--work-dir', pre_dir,
             '--overwrite', '--cfg-options', *data_opts, f'train_cfg.max_epochs={epochs}',
             f'default_hooks.logger.interval={interval}', max_epochs=epochs)
    checkpoint = osp.join(pre_dir, f'epoch_{epochs}.pth')
    # logger.interval=1 in the test loops: a line per batch (mmengine logs a test
    # loop shorter than the interval not at all)
    run_tool(steps, f'test {name}', 'tools/test.py', config, checkpoint, '--work-dir',
             osp.join(pre_dir, 'test'), '--cfg-options', *data_opts,
             'default_hooks.logger.interval=1')
    top1 = read_metrics(osp.join(pre_dir, 'test'))['accuracy/top1']

    seg_dir = osp.join(work_dir, f'seg_{name}')
    seg_opts = [f'{s}_dataloader.dataset.data_root={seg_root}' for s in ('train', 'val', 'test')]
    iters = scale['seg_iters']
    run_tool(steps, f'UperNet {name}', 'tools/train.py', SEG_CONFIG, '--work-dir', seg_dir,
             '--overwrite', '--cfg-options', *seg_opts,
             f'model.backbone.init_cfg.checkpoint={checkpoint}',
             f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
             f'default_hooks.logger.interval={interval}')
    run_tool(steps, f'UperNet test {name}', 'tools/test.py', SEG_CONFIG,
             osp.join(seg_dir, f'iter_{iters}.pth'), '--work-dir', osp.join(seg_dir, 'test'),
             '--cfg-options', *seg_opts, 'default_hooks.logger.interval=1')
    seg_metrics = read_metrics(osp.join(seg_dir, 'test'))
    return dict(checkpoint=checkpoint, top1=top1, mIoU=seg_metrics['mIoU'],
                mAcc=seg_metrics['mAcc'], aAcc=seg_metrics['aAcc'],
                wall_time_s=round(time.time() - start, 1))


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
    batches = [pseudo_collate(samples[i:i + 32]) for i in range(0, len(samples), 32)]
    reports = {}
    for name, checkpoint in checkpoints.items():
        model = build_model(cfg)
        load_pretrained_backbone(model.backbone, checkpoint, logger=None)
        model.eval()
        with torch.no_grad():
            reports[name] = redundancy_report(model, batches)
    return reports


def levels_table(reports):
    """The three redundancy levels of each variant, at the block the diverse
    config regularizes (block 0 for the attention term) and over all blocks."""
    from mmdiverse.analysis.ablation import own_measures
    lines = ['| variant | last-block patch cos | head sim, block 0 (regularized) | '
             'head sim, mean of blocks | q/k/v cond, geometric mean |', '|---|---|---|---|---|']
    for name, report in reports.items():
        m = own_measures(report, attn_blocks=(0, ))
        heads = list(report['head_similarity'].values())
        lines.append(f"| {name} | {m['patch_similarity']:.3f} | {m['head_similarity']:.3f} | "
                     f"{sum(heads) / len(heads):.3f} | {m['condition_number']:.2f} |")
    return '\n'.join(lines)


def variants_table(results):
    lines = ['| variant | top-1 (%) | mIoU (%) | last-layer patch cos | wall time (s) |',
             '|---|---|---|---|---|']
    for name, r in results.items():
        lines.append(f"| {name} | {r['top1']:.2f} | {r['mIoU']:.2f} | "
                     f"{r['last_layer_patch_similarity']:.3f} | {r['wall_time_s']:.0f} |")
    return '\n'.join(lines)


def write_summary(work_dir, steps, total_s, results=None, reports=None, plot=None,
                  ablation=None):
    """``summary.{json,md}``; ``ablation.{json,md}`` for an ablation-only run
    (so that it leaves a full run's summary in place)."""
    summary = dict(variants=results, per_layer=reports, plot=plot, ablation=ablation,
                   steps=[r._asdict() for r in steps.records], total_wall_time_s=total_s)
    stem = osp.join(work_dir, 'summary' if results else 'ablation')
    with open(stem + '.json', 'w') as f:
        json.dump(summary, f, indent=2)
    parts = ['# mmdiverse demo (synthetic shapes, CPU)']
    if results:
        parts += [variants_table(results),
                  '## Redundancy levels\n\n' + levels_table(reports) +
                  f'\n\nPer-layer curves: `{osp.basename(plot)}`.']
    if ablation:
        parts.append('## Each term alone (ablation)\n\n' + ablation['table'] + '\n\n' +
                     ablation['explanation'])
    parts.append('## Steps\n\nThe full output of each step is in its log file.\n\n' +
                 steps.timing_table() + f'\n\nTotal wall time: {total_s:.0f} s.')
    with open(stem + '.md', 'w') as f:
        f.write('\n\n'.join(parts) + '\n')
    return stem + '.md'


def main():
    args = parse_args()
    scale = dict(SCALES['quick' if args.quick else 'default'])
    if args.ablation_epochs:
        scale['ablation_epochs'] = args.ablation_epochs
    ablation_runs = parse_weights(args.weight)
    start = time.time()
    work_dir = osp.abspath(args.work_dir)
    os.makedirs(work_dir, exist_ok=True)
    steps = StepRunner()
    cls_root, seg_root = make_data(osp.abspath(args.data_root), scale)
    results = reports = plot = ablation = None
    if not args.ablation:
        results = {name: run_variant(steps, name, cls_root, seg_root, work_dir, scale)
                   for name in PRETRAIN_CONFIGS}
        reports = measure({n: r['checkpoint'] for n, r in results.items()},
                          PRETRAIN_CONFIGS['baseline'], cls_root, scale['analysis_images'])
        for name, report in reports.items():
            results[name]['last_layer_patch_similarity'] = list(
                report['patch_similarity'].values())[-1]
        from mmdiverse.analysis import plot_redundancy
        plot = plot_redundancy(reports, osp.join(work_dir, 'patch_similarity.png'))
        print(variants_table(results))
        print(levels_table(reports))
    if args.ablation or not (args.skip_ablation or args.quick):
        runs = run_ablation(lambda *a, **k: run_tool(steps, *a, **k), cls_root, work_dir,
                            scale, ablation_runs)
        ablation = ablation_report(runs, measure, cls_root, scale, SEED)
        print(ablation['table'])
    total = round(time.time() - start, 1)
    summary_md = write_summary(work_dir, steps, total, results, reports, plot, ablation)
    print(steps.timing_table())
    print(f'summary: {summary_md}')


if __name__ == '__main__':
    main()
