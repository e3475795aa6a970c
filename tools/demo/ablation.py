"""The demo's per-term ablation: the demo ViT trained with each diversity term alone.

Every run trains ``configs/demo/vit_tiny_shapes_ablation.py`` (the demo ViT,
recipe and data, patch-aligned CutMix, seed 0) through ``tools/train.py``,
adding one term at a stated ``loss_weight`` through ``--cfg-options``; the run
without any term is the baseline. Each backbone is then measured with
:func:`mmdiverse.analysis.redundancy_report`, and
:func:`mmdiverse.analysis.ablation.ablation_table` compares each term's own
measure (:data:`~mmdiverse.analysis.ablation.TERM_MEASURE`) with the baseline's.
"""

import os.path as osp
from typing import Callable, Dict, List, Sequence, Tuple

from mmdiverse.analysis.ablation import TERM_MEASURE, ablation_table, own_measures, relative_change
from .pipeline import REPO_ROOT, run_tool

ABLATION_CONFIG = 'configs/demo/vit_tiny_shapes_ablation.py'
LOSS_TYPES = {
    'patch_cos': 'PatchCosineLoss',
    'patch_contrast': 'PatchContrastiveLoss',
    'patch_mix': 'PatchMixingLoss',
    'attn_div': 'AttentionDiversityLoss',
    'weight_cond': 'WeightConditionLoss',
}
#: The coefficients of configs/pretrain/_base_/diversity.py and of the diverse demo.
PAPER_WEIGHTS = dict(
    patch_cos=0.5, patch_contrast=0.5, patch_mix=1.0, attn_div=1e-4, weight_cond=5e-4
)
#: The weights of the ablation runs, per term: the patch terms at the paper's
#: coefficients; the attention and weight terms both at the paper's coefficient
#: and at one that gives them a gradient comparable to the classification
#: loss's at this scale (docs/demo.md, "Why the attention and weight levels barely move").
ABLATION_WEIGHTS = dict(
    patch_cos=(0.5,),
    patch_contrast=(0.5,),
    patch_mix=(1.0,),
    attn_div=(1e-4, 1.0),
    weight_cond=(5e-4, 0.05),
)


def parse_weights(items: Sequence[str]) -> List[Tuple[str, float]]:
    """The ``(term, weight)`` runs of the ablation.

    Args:
        items: ``TERM=W[,W...]`` strings (``--weight``); each replaces the
            default weights of its term.

    Returns:
        list: ``(term, weight)`` pairs, in the order of :data:`LOSS_TYPES`.
    """
    weights = {term: list(values) for term, values in ABLATION_WEIGHTS.items()}
    for item in items:
        term, sep, values = item.partition('=')
        if not sep or term not in LOSS_TYPES:
            raise ValueError(
                f'--weight {item!r}: expected TERM=W[,W...] with TERM one of {list(LOSS_TYPES)}'
            )
        try:
            weights[term] = [float(v) for v in values.split(',')]
        except ValueError:
            raise ValueError(f'--weight {item!r}: {values!r} is not a list of numbers') from None
        if any(w <= 0 for w in weights[term]):
            raise ValueError(f'--weight {item!r}: weights must be > 0')
    return [(term, w) for term in LOSS_TYPES for w in weights[term]]


def term_options(term: str, weight: float):
    """``--cfg-options`` that add ``term`` alone at ``weight`` to the ablation config."""
    return [
        f'model.diversity.{term}.type={LOSS_TYPES[term]}',
        f'model.diversity.{term}.loss_weight={weight}',
    ]


def run_ablation(
    steps, cls_root: str, work_dir: str, scale: dict, runs: Sequence[Tuple[str, float]]
) -> Dict[str, dict]:
    """Train the baseline and each ``(term, weight)`` alone, ``steps.jobs`` at a
    time (:class:`tools.demo.progress.StepRunner`); return ``{run name: {term,
    weight, checkpoint}}`` (``term`` None for the baseline)."""
    epochs = scale['ablation_epochs']
    data_opts = [f'{s}_dataloader.dataset.data_root={cls_root}' for s in ('train', 'val', 'test')]
    runs = dict(
        [('baseline', dict(term=None, weight=0.0))]
        + [(f'{term}@{weight:g}', dict(term=term, weight=weight)) for term, weight in runs]
    )

    def train(name):
        run = runs[name]
        run_dir = osp.join(work_dir, 'ablation', name)
        extra = term_options(run['term'], run['weight']) if run['term'] else []
        # val_interval > max_epochs: the ablation measures redundancy, not accuracy
        run_tool(
            steps,
            f'ablation {name}',
            'tools/train.py',
            ABLATION_CONFIG,
            '--work-dir',
            run_dir,
            '--overwrite',
            '--cfg-options',
            *data_opts,
            *extra,
            f'train_cfg.max_epochs={epochs}',
            f'train_cfg.val_interval={epochs + 1}',
            f'default_hooks.logger.interval={scale["log_interval"]}',
            f'default_hooks.checkpoint.interval={epochs}',
            max_epochs=epochs,
        )
        run['checkpoint'] = osp.join(run_dir, f'epoch_{epochs}.pth')

    steps.map(train, list(runs))
    return runs


def ablation_report(
    runs: Dict[str, dict], measure: Callable, cls_root: str, scale: dict, seed: int
) -> dict:
    """Measure every run and tabulate each term against the baseline.

    Args:
        runs: :func:`run_ablation`'s result.
        measure: ``({name: checkpoint}, config, cls_root, num_images) ->
            {name: redundancy report}``.

    Returns:
        dict: ``table`` (markdown), ``explanation``, ``seed``, ``epochs``,
        ``baseline`` and ``rows`` (per term: weight, all three measures,
        the change of its own measure).
    """
    reports = measure(
        {n: r['checkpoint'] for n, r in runs.items()},
        ABLATION_CONFIG,
        cls_root,
        scale['analysis_images'],
    )
    shares = gradient_shares(runs, cls_root, seed)
    measures = {name: own_measures(report) for name, report in reports.items()}
    baseline = measures['baseline']
    rows = []
    for name, run in runs.items():
        if run['term'] is None:
            continue
        own = TERM_MEASURE[run['term']]
        rows.append(
            dict(
                term=run['term'],
                weight=run['weight'],
                measures=measures[name],
                own_measure=own,
                gradient_share=shares[name],
                change=relative_change(measures[name][own], baseline[own]),
            )
        )
    return dict(
        table=ablation_table(rows, baseline, seed),
        explanation=EXPLANATION,
        seed=seed,
        epochs=scale['ablation_epochs'],
        baseline=baseline,
        rows=rows,
        per_layer=reports,
    )


def gradient_shares(runs: Dict[str, dict], cls_root: str, seed: int) -> Dict[str, float]:
    """Each run's term at its weight on the trained **baseline** backbone: its
    gradient norm over the classification loss's, on one training batch
    (:func:`mmdiverse.analysis.gradient_share.gradient_share`)."""
    import torch
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmengine.runner import load_checkpoint, set_random_seed
    from mmpretrain.registry import DATASETS

    from mmdiverse.analysis.gradient_share import gradient_share
    from mmdiverse.apis import build_model

    shares = {}
    for name, run in runs.items():
        if run['term'] is None:
            continue
        cfg = Config.fromfile(osp.join(REPO_ROOT, ABLATION_CONFIG))
        cfg.merge_from_dict(dict(o.split('=', 1) for o in term_options(run['term'], 0)))
        cfg.model.diversity[run['term']]['loss_weight'] = run['weight']
        cfg.train_dataloader.dataset.data_root = cls_root
        dataset = DATASETS.build(cfg.train_dataloader.dataset)
        set_random_seed(seed)  # the same images and CutMix boxes for every term
        order = torch.randperm(len(dataset))[: cfg.train_dataloader.batch_size].tolist()
        batch = pseudo_collate([dataset[i] for i in order])
        model = build_model(cfg)
        # mmengine's loader (made safe by mmdiverse); strict=False: the weight
        # term's power-iteration vectors are not in the baseline's checkpoint
        # (they are created on the first call)
        load_checkpoint(
            model, runs['baseline']['checkpoint'], map_location='cpu', strict=False, logger='silent'
        )
        model.train()
        shares[name] = gradient_share(model, batch, [run['term']])[run['term']]
    return shares


EXPLANATION = """\
Reading the table (what the code does):

* **Coefficients.** The diverse demo uses the paper's coefficients: `attn_div` 1e-4 and
  `weight_cond` 5e-4, next to 0.5 / 0.5 / 1 for the patch terms. AdamW scales each
  weight's update by its whole gradient, so what a term can change is set by its gradient
  next to the classification loss's on the same weights: the column "gradient vs cls"
  (measured on the trained baseline backbone, one batch). A term with a small fraction of
  the classification gradient cannot move its measure, and what the attention and weight
  measures do in the diverse run can then be a side effect of the patch terms and of the
  recipe (the diverse run also mixes with PatchCutMix, the baseline with CutMix).
  `clip_grad` (max norm 5) also bounds a large term: it rescales the whole gradient,
  the classification part included.
* **Block measured vs block regularized.** `attn_div` reads only block 0
  (`tap.attn_layers=(0,)`); the head-similarity curve of the plot shows every block, and
  only block 0 is a fair test of the term. `weight_cond` covers every block's q, k, v.
* **Metric vs term.** Head similarity in the report is the off-diagonal mean of the
  H x H cosine matrix; the term includes the diagonal: term = 1/H + (H-1)/H x metric,
  the same ordering. The condition number sigma_max/sigma_min is scale-free, the term
  (sigma_max^2 - sigma_min^2)^2 is not: it is also lowered by shrinking a matrix, which
  leaves its condition number unchanged, and its sigma_min comes from one power-iteration
  step per training step (an over-estimate until it converges). Condition numbers are
  summarized by their geometric mean (they spread over orders of magnitude). Patch
  similarity in the report is the signed cosine; `patch_cos` penalizes |cos| of the last
  block.

The table trains each term alone at the weight given (the attention and weight terms
also above the paper's coefficients) and reports whether it lowered its own measure."""
