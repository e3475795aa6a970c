"""``python -m tools.demo``: the demo's command line (see :mod:`tools.demo`).

Writes ``summary.json``, ``summary.md`` and ``patch_similarity.png`` to
``--work-dir`` (``ablation.json`` / ``ablation.md`` with ``--ablation``). Each
step shows a live progress line; its full output goes to ``tool_output.log`` in
the step's work directory, which ``summary.md`` lists with each step's time.
``--ablation`` runs step 5 alone, ``--skip-ablation`` steps 1-4 (and the
self-supervised track, unless ``--skip-selfsup``). Every number
in the summary is measured by this run.
"""

import argparse
import os
import os.path as osp
import time

from .ablation import ABLATION_WEIGHTS, ablation_report, parse_weights, run_ablation
from .pipeline import PRETRAIN_CONFIGS, SCALES, SEED, make_data, measure, run_variant
from .progress import StepRunner, default_jobs
from .summary import levels_table, variant_summary, variants_table, write_summary


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog='python -m tools.demo',
        description='The main job on the embedded default data, end to end, on the CPU.',
    )
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data-root', default='data/demo')
    parser.add_argument(
        '--quick',
        action='store_true',
        help='a reduced run (a few iterations) that checks the pipeline; '
        'no ablation unless --ablation',
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        '--ablation',
        action='store_true',
        help='only the per-term ablation (each diversity term alone)',
    )
    group.add_argument(
        '--skip-ablation', action='store_true', help='only the pretraining / segmentation pipeline'
    )
    parser.add_argument(
        '--skip-selfsup',
        action='store_true',
        help='leave out the self-supervised track (MAE -> UperNet, tools/demo/selfsup.py)',
    )
    parser.add_argument(
        '--seeds',
        type=int,
        default=1,
        help='run the pretraining and transfer steps with seeds 0..N-1 '
        'and report mean ± std through tools/analysis/compare_runs.py',
    )
    parser.add_argument(
        '--jobs',
        type=int,
        default=default_jobs(),
        help='independent runs trained at once, each with CPU count / JOBS threads '
        '(default: %(default)s; 1: one after the other, with every thread)',
    )
    parser.add_argument(
        '--ablation-epochs', type=int, help="epochs of each ablation run (default: the scale's)"
    )
    parser.add_argument(
        '--weight',
        nargs='+',
        default=[],
        metavar='TERM=W[,W...]',
        help='loss_weight(s) of a term in the ablation, one run each, e.g. '
        f'attn_div=10 (defaults: {ABLATION_WEIGHTS})',
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.seeds < 1:
        raise SystemExit(f'--seeds {args.seeds}: give at least one seed')
    scale = dict(SCALES['quick' if args.quick else 'default'])
    if args.ablation_epochs:
        scale['ablation_epochs'] = args.ablation_epochs
    ablation_runs = parse_weights(args.weight)
    start = time.time()
    work_dir = osp.abspath(args.work_dir)
    os.makedirs(work_dir, exist_ok=True)
    if args.jobs < 1:
        raise SystemExit(f'--jobs {args.jobs}: give at least one')
    steps = StepRunner(jobs=args.jobs)
    cls_root, seg_root = make_data(osp.abspath(args.data_root), scale)
    results = reports = plot = ablation = None
    sections = {}
    if not args.ablation:
        per_variant = {name: [] for name in PRETRAIN_CONFIGS}
        seeds = range(SEED, SEED + args.seeds)
        runs = [(seed, name) for seed in seeds for name in PRETRAIN_CONFIGS]
        finished = steps.map(
            lambda run: run_variant(steps, run[1], cls_root, seg_root, work_dir, scale, run[0]),
            runs,
        )
        for (_, name), result in zip(runs, finished):
            per_variant[name].append(result)
        checkpoints = {
            f'{name}@{r["seed"]}': r['checkpoint']
            for name, per_seed in per_variant.items()
            for r in per_seed
        }
        seed_reports = measure(
            checkpoints, PRETRAIN_CONFIGS['baseline'], cls_root, scale['analysis_images']
        )
        for name, per_seed in per_variant.items():
            for r in per_seed:
                patch = seed_reports[f'{name}@{r["seed"]}']['patch_similarity']
                r['last_layer_patch_similarity'] = list(patch.values())[-1]
        results = {name: variant_summary(per_seed) for name, per_seed in per_variant.items()}
        # the curves and levels of the configs' own seed
        reports = {name: seed_reports[f'{name}@{SEED}'] for name in PRETRAIN_CONFIGS}
        from mmdiverse.analysis import plot_redundancy

        plot = plot_redundancy(reports, osp.join(work_dir, 'patch_similarity.png'))
        if args.seeds > 1:
            from .seeds import compare_seeds

            sections['seeds'] = compare_seeds(per_variant, work_dir)
        print(variants_table(results))
        print(levels_table(reports))
    if args.ablation or not (args.skip_ablation or args.quick):
        runs = run_ablation(steps, cls_root, work_dir, scale, ablation_runs)
        ablation = ablation_report(runs, measure, cls_root, scale, SEED)
        print(ablation['table'])
    # Further tracks: one call that runs its steps through ``steps`` and returns a summary
    # section (a dict with 'title' and 'markdown'; it lands in summary.md and summary.json).
    if not (args.ablation or args.skip_selfsup):
        from .selfsup import run_selfsup

        sections['selfsup'] = run_selfsup(steps, cls_root, seg_root, work_dir, scale)
        print(sections['selfsup']['markdown'])
    total = round(time.time() - start, 1)
    summary_md = write_summary(work_dir, steps, total, results, reports, plot, ablation, sections)
    print(steps.timing_table())
    print(f'summary: {summary_md}')


if __name__ == '__main__':
    main()
