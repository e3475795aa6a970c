"""The main job on the embedded default data, end to end, on the CPU.

1. writes a synthetic shape-classification set (ImageNet layout) and a shape-
   segmentation set (ADE20K layout) under ``--data-root``;
2. pretrains the demo ViT twice through ``tools/train.py`` -- regularizers off
   (``configs/demo/vit_tiny_shapes.py``) and on (``..._diverse.py``) -- and
   evaluates top-1 with ``tools/test.py``;
3. transfers each checkpoint into UperNet (``configs/demo/upernet_vit_tiny_shapes.py``),
   fine-tunes it and evaluates mIoU with mmseg's test loop;
4. measures per-layer patch similarity of both backbones
   (:func:`mmdiverse.analysis.redundancy_report`), and writes
   ``summary.json``, ``summary.md`` and ``patch_similarity.png`` to ``--work-dir``.

Every number in the summary is measured by this run.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PRETRAIN_CONFIGS = {
    'baseline': 'configs/demo/vit_tiny_shapes.py',
    'diverse': 'configs/demo/vit_tiny_shapes_diverse.py',
}
SEG_CONFIG = 'configs/demo/upernet_vit_tiny_shapes.py'
# Sizes of the default run and of --quick (what the tests run).
SCALES = {
    'default': dict(train_per_class=750, val_per_class=100, seg_train=320, seg_val=80,
                    pretrain_epochs=30, seg_iters=500, analysis_images=128),
    'quick': dict(train_per_class=8, val_per_class=4, seg_train=8, seg_val=4,
                  pretrain_epochs=2, seg_iters=4, analysis_images=8),
}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data-root', default='data/demo')
    parser.add_argument('--quick', action='store_true',
                        help='a reduced run (a few iterations) that checks the pipeline')
    return parser.parse_args()


def run_tool(*args):
    """Run ``python tools/...`` as a user would; stop the demo if it fails."""
    command = [sys.executable, *args]
    print('$', ' '.join(command), flush=True)
    env = dict(os.environ, PYTHONPATH=REPO_ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    log_file = osp.join(args[args.index('--work-dir') + 1], 'tool_output.log')
    os.makedirs(osp.dirname(log_file), exist_ok=True)
    with open(log_file, 'w') as log:
        result = subprocess.run(command, cwd=REPO_ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    if result.returncode != 0:
        with open(log_file) as log:
            sys.stderr.write(log.read()[-5000:])
        raise SystemExit(f'demo step failed ({result.returncode}): {" ".join(args)}; '
                         f'full output in {log_file}')


def read_metrics(work_dir):
    with open(osp.join(work_dir, 'test_metrics.json')) as f:
        return json.load(f)


def make_data(data_root, scale):
    from mmdiverse.datasets import make_classification_set, make_segmentation_set
    cls_root, seg_root = osp.join(data_root, 'shapes_cls'), osp.join(data_root, 'shapes_seg')
    stamp = json.dumps(scale, sort_keys=True)
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


def run_variant(name, cls_root, seg_root, work_dir, scale):
    """Pretrain, evaluate, transfer, fine-tune and evaluate one variant."""
    start = time.time()
    config = PRETRAIN_CONFIGS[name]
    pre_dir = osp.join(work_dir, f'pretrain_{name}')
    epochs = scale['pretrain_epochs']
    data_opts = [f'{s}_dataloader.dataset.data_root={cls_root}' for s in ('train', 'val', 'test')]
    # --overwrite: a demo re-run replaces the previous demo run.
    run_tool('tools/train.py', config, '--work-dir', pre_dir, '--overwrite', '--cfg-options',
             *data_opts, f'train_cfg.max_epochs={epochs}')
    checkpoint = osp.join(pre_dir, f'epoch_{epochs}.pth')
    run_tool('tools/test.py', config, checkpoint, '--work-dir', osp.join(pre_dir, 'test'),
             '--cfg-options', *data_opts)
    top1 = read_metrics(osp.join(pre_dir, 'test'))['accuracy/top1']

    seg_dir = osp.join(work_dir, f'seg_{name}')
    seg_opts = [f'{s}_dataloader.dataset.data_root={seg_root}' for s in ('train', 'val', 'test')]
    iters = scale['seg_iters']
    run_tool('tools/train.py', SEG_CONFIG, '--work-dir', seg_dir, '--overwrite', '--cfg-options',
             *seg_opts,
             f'model.backbone.init_cfg.checkpoint={checkpoint}',
             f'train_cfg.max_iters={iters}',
             f'train_cfg.val_interval={iters}')
    run_tool('tools/test.py', SEG_CONFIG, osp.join(seg_dir, f'iter_{iters}.pth'), '--work-dir',
             osp.join(seg_dir, 'test'), '--cfg-options', *seg_opts)
    seg_metrics = read_metrics(osp.join(seg_dir, 'test'))
    return dict(checkpoint=checkpoint, top1=top1, mIoU=seg_metrics['mIoU'],
                mAcc=seg_metrics['mAcc'], aAcc=seg_metrics['aAcc'],
                wall_time_s=round(time.time() - start, 1))


def analyse(results, cls_root, work_dir, num_images):
    """Per-layer patch similarity of both pretrained backbones."""
    import torch
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmpretrain.registry import DATASETS

    import mmdiverse  # noqa: F401
    from mmdiverse.analysis import plot_redundancy, redundancy_report
    from mmdiverse.apis import build_model
    from mmdiverse.checkpoint import load_pretrained_backbone

    cfg = Config.fromfile(osp.join(REPO_ROOT, PRETRAIN_CONFIGS['baseline']))
    cfg.test_dataloader.dataset.data_root = cls_root
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    samples = [dataset[i] for i in range(min(num_images, len(dataset)))]
    batches = [pseudo_collate(samples[i:i + 32]) for i in range(0, len(samples), 32)]
    reports = {}
    for name, result in results.items():
        model = build_model(cfg)
        load_pretrained_backbone(model.backbone, result['checkpoint'], logger=None)
        model.eval()
        with torch.no_grad():
            reports[name] = redundancy_report(model, batches)
        result['last_layer_patch_similarity'] = list(reports[name]['patch_similarity'].values())[-1]
    plot = plot_redundancy(reports, osp.join(work_dir, 'patch_similarity.png'))
    return reports, plot


def write_summary(results, reports, plot, work_dir, total_s):
    summary = dict(variants=results, per_layer=reports, plot=plot, total_wall_time_s=total_s)
    with open(osp.join(work_dir, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    lines = ['| variant | top-1 (%) | mIoU (%) | last-layer patch cos | wall time (s) |',
             '|---|---|---|---|---|']
    for name, r in results.items():
        lines.append(f"| {name} | {r['top1']:.2f} | {r['mIoU']:.2f} | "
                     f"{r['last_layer_patch_similarity']:.3f} | {r['wall_time_s']:.0f} |")
    table = '\n'.join(lines)
    with open(osp.join(work_dir, 'summary.md'), 'w') as f:
        f.write('# mmdiverse demo (synthetic shapes, CPU)\n\n' + table +
                f'\n\nPer-layer patch similarity: `{osp.basename(plot)}`. '
                f'Total wall time: {total_s:.0f} s.\n')
    print(table)


def main():
    args = parse_args()
    scale = SCALES['quick' if args.quick else 'default']
    start = time.time()
    work_dir = osp.abspath(args.work_dir)
    os.makedirs(work_dir, exist_ok=True)
    cls_root, seg_root = make_data(osp.abspath(args.data_root), scale)
    results = {name: run_variant(name, cls_root, seg_root, work_dir, scale)
               for name in PRETRAIN_CONFIGS}
    reports, plot = analyse(results, cls_root, work_dir, scale['analysis_images'])
    write_summary(results, reports, plot, work_dir, round(time.time() - start, 1))
    print(f'summary: {osp.join(work_dir, "summary.md")}')


if __name__ == '__main__':
    main()
