"""The demo's self-supervised track: a tiny MAE with and without the diversity terms,
transferred to UperNet.

For each variant (``configs/demo/mae_vit_tiny_shapes.py``, terms off, and
``..._diverse.py``, mmdiverse's ``DiverseMAE`` with the four label-free terms):

1. MAE pretraining on the classification images (labels unused) through ``tools/train.py``;
2. UperNet (``configs/demo/upernet_mae_vit_tiny_shapes.py``: mmseg's MAE backbone, loaded
   strictly from that checkpoint) fine-tuned and evaluated (mIoU) through ``tools/train.py``
   and ``tools/test.py``;

then both encoders' three redundancy levels (:func:`mmdiverse.analysis.redundancy_report`,
through the demo ViT classifier config, whose backbone has the encoder's layout), their
per-layer plot, and each term's gradient next to the reconstruction's on the trained
baseline encoder (:func:`mmdiverse.analysis.gradient_share.gradient_share`). Everything in
the section it returns is measured by the run (docs/selfsup.md).
"""

import os.path as osp

from .pipeline import REPO_ROOT, measure, run_tool, run_transfer

SELFSUP_CONFIGS = {
    'baseline': 'configs/demo/mae_vit_tiny_shapes.py',
    'diverse': 'configs/demo/mae_vit_tiny_shapes_diverse.py',
}
SEG_CONFIG = 'configs/demo/upernet_mae_vit_tiny_shapes.py'
#: A classifier with the MAE encoder's layout: the redundancy report's model.
MEASURE_CONFIG = 'configs/demo/vit_tiny_shapes.py'
TERMS = ('patch_cos', 'patch_contrast', 'attn_div', 'weight_cond')


def selfsup_scale(scale):
    """The track's sizes from the demo's scale: a tenth of the supervised pretraining
    epochs and a fifth of its UperNet iterations, so that the track takes a couple of
    minutes of the demo's budget (docs/selfsup.md)."""
    return dict(
        pretrain_epochs=max(1, scale['pretrain_epochs'] // 10),
        seg_iters=max(2, scale['seg_iters'] // 5),
        analysis_images=scale['analysis_images'],
        log_interval=scale['log_interval'],
    )


def run_selfsup(steps, cls_root, seg_root, work_dir, scale):
    """Run the track; return the summary section ``{'title', 'markdown', ...}``.

    Args:
        steps: the demo's :class:`tools.demo.progress.StepRunner`.
        cls_root, seg_root: the demo's classification / segmentation data.
        work_dir: the demo's work directory (the track writes under ``selfsup/``).
        scale: the demo's scale (:data:`tools.demo.pipeline.SCALES`).
    """
    sizes = selfsup_scale(scale)
    root = osp.join(work_dir, 'selfsup')
    finished = steps.map(
        lambda item: run_variant(steps, *item, cls_root, seg_root, root, sizes),
        SELFSUP_CONFIGS.items(),
    )
    variants = dict(zip(SELFSUP_CONFIGS, finished))
    reports = measure(
        {n: v['checkpoint'] for n, v in variants.items()},
        MEASURE_CONFIG,
        cls_root,
        sizes['analysis_images'],
    )
    from mmdiverse.analysis import plot_redundancy

    plot = plot_redundancy(reports, osp.join(work_dir, 'selfsup_patch_similarity.png'))
    shares = term_gradient_shares(variants['baseline']['checkpoint'], cls_root)
    return dict(
        title='Self-supervised track (MAE -> UperNet)',
        markdown=section_markdown(variants, reports, plot, shares, sizes),
        variants=variants,
        per_layer=reports,
        plot=plot,
        gradient_share=shares,
        sizes=sizes,
    )


def run_variant(steps, name, config, cls_root, seg_root, root, sizes):
    """MAE pretraining, then UperNet fine-tuning and test, of one variant."""
    pre_dir, seg_dir = osp.join(root, f'mae_{name}'), osp.join(root, f'seg_{name}')
    epochs, interval = sizes['pretrain_epochs'], sizes['log_interval']
    run_tool(
        steps,
        f'MAE {name}',
        'tools/train.py',
        config,
        '--work-dir',
        pre_dir,
        '--overwrite',
        '--cfg-options',
        f'train_dataloader.dataset.data_root={cls_root}',
        f'experiment_name=mae_{name}',
        f'train_cfg.max_epochs={epochs}',
        f'default_hooks.logger.interval={interval}',
        max_epochs=epochs,
    )
    checkpoint = osp.join(pre_dir, f'epoch_{epochs}.pth')
    experiment = f'transfer_mae_{name}'
    seg_checkpoint, metrics = run_transfer(
        steps, f'(MAE {name})', SEG_CONFIG, checkpoint, seg_dir, seg_root, sizes, experiment
    )
    return dict(
        checkpoint=checkpoint,
        seg_checkpoint=seg_checkpoint,
        mIoU=metrics['mIoU'],
        mAcc=metrics['mAcc'],
        aAcc=metrics['aAcc'],
    )


def term_gradient_shares(baseline_checkpoint, cls_root, seed=0):
    """Each term of the diverse config, at its ``loss_weight``, on the trained baseline
    encoder: its backbone gradient norm over the reconstruction loss's (one batch)."""
    import torch
    from mmengine.config import Config
    from mmengine.dataset import default_collate
    from mmengine.runner import load_checkpoint, set_random_seed
    from mmpretrain.registry import DATASETS

    from mmdiverse.analysis.gradient_share import gradient_share
    from mmdiverse.apis import build_model

    cfg = Config.fromfile(osp.join(REPO_ROOT, SELFSUP_CONFIGS['diverse']))
    cfg.train_dataloader.dataset.data_root = cls_root
    model = build_model(cfg)  # sets the mmpretrain scope the dataset is built in
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    set_random_seed(seed)
    order = torch.randperm(len(dataset))[: cfg.train_dataloader.batch_size].tolist()
    batch = default_collate([dataset[i] for i in order])
    # strict=False: the weight term's power-iteration vectors are not in the baseline's
    # checkpoint (created on the first call)
    load_checkpoint(model, baseline_checkpoint, map_location='cpu', strict=False, logger='silent')
    model.train()
    set_random_seed(seed)  # the same MAE mask for every term
    shares = gradient_share(model, batch, TERMS, reference='loss_rec')
    weights = {t: float(cfg.model.diversity[t].loss_weight) for t in TERMS}
    return {t: dict(loss_weight=weights[t], share=shares[t]) for t in TERMS}


def section_markdown(variants, reports, plot, shares, sizes):
    """The track's part of ``summary.md``: mIoU, the redundancy levels, the plot,
    the terms' gradient shares, and which variant measured better, as measured."""
    from .summary import levels_table

    lines = ['| variant | mIoU (%) | mAcc (%) | aAcc (%) |', '|---|---|---|---|']
    for name, v in variants.items():
        lines.append(f'| MAE {name} | {v["mIoU"]:.2f} | {v["mAcc"]:.2f} | {v["aAcc"]:.2f} |')
    share_lines = ['| term | loss_weight | gradient vs reconstruction |', '|---|---|---|']
    share_lines += [
        f'| `{t}` | {s["loss_weight"]:g} | {s["share"]:.2g} |' for t, s in shares.items()
    ]
    base, div = variants['baseline']['mIoU'], variants['diverse']['mIoU']
    verdict = 'higher' if div > base else 'lower' if div < base else 'the same'
    return '\n'.join(
        [
            f'MAE pretraining for {sizes["pretrain_epochs"]} epochs on the classification images '
            f'(labels unused), then {sizes["seg_iters"]} UperNet iterations; seed 0.',
            '',
            *lines,
            '',
            f'The diverse encoder transferred to {verdict} mIoU than the baseline '
            f'({div:.2f} vs {base:.2f}) in this run (one seed, toy scale).',
            '',
            '### Redundancy levels of the two encoders',
            '',
            levels_table(reports),
            '',
            f'Per-layer curves: `{osp.basename(plot)}`.',
            '',
            '### Each term next to the reconstruction (trained baseline encoder, one batch)',
            '',
            *share_lines,
        ]
    )
