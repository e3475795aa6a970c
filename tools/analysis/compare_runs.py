"""Compare training runs: mean ± std over seeds of each metric, loss term and cost.

Reads each work directory's mmengine scalars (``*/vis_data/scalars.json``) and
resolved config, groups the runs whose configs differ only in
``randomness.seed`` (and the ``--ignore`` keys), and writes to ``--out-dir``:

* ``compare.md`` / ``compare.json``: per group, the best and final value of each
  validation metric, the training time per iteration and peak memory where
  logged, and each loss term at the end, as mean ± std (number of seeds);
* ``compare.png``: the metric curves and each loss term over training, one
  colour per group, shaded over seeds; with ``--redundancy`` also the three
  per-block redundancy curves of each run's last checkpoint.

Examples::

    python -m tools.analysis.compare_runs work_dirs/s24_base_seed{0,1,2} \\
        work_dirs/s24_diverse_seed{0,1,2} --out-dir work_dirs/compare_s24
    # transfer runs: each seed fine-tunes its own backbone, so its checkpoint key is
    # ignored; runs from different backbones then need their own experiment_name
    # (tools/train.py ... --cfg-options experiment_name=seg_from_diverse), or they group
    python -m tools.analysis.compare_runs work_dirs/seg_* \\
        --ignore model.backbone.init_cfg.checkpoint --redundancy
"""

import argparse
import json
import os
import os.path as osp

from mmdiverse.analysis.run_comparison import compare_groups, comparison_markdown
from mmdiverse.analysis.run_groups import (
    differing_keys,
    group_runs,
    repeated_seeds,
    same_name_differences,
)
from mmdiverse.analysis.run_plots import plot_comparison
from mmdiverse.analysis.run_scalars import read_run


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('work_dirs', nargs='+', help='tools/train.py work directories')
    parser.add_argument(
        '--out-dir', default='work_dirs/compare', help='where compare.{md,json,png} go'
    )
    parser.add_argument(
        '--ignore',
        nargs='+',
        default=[],
        metavar='KEY',
        help='dotted config keys that may differ within a group besides '
        'randomness.seed, e.g. model.backbone.init_cfg.checkpoint',
    )
    parser.add_argument(
        '--redundancy',
        action='store_true',
        help="measure each run's last checkpoint (patch similarity, "
        'head similarity, q/k/v condition numbers per block)',
    )
    parser.add_argument(
        '--num-images', type=int, default=64, help='test images per checkpoint for --redundancy'
    )
    return parser.parse_args(argv)


def read_runs(work_dirs):
    """Every run, or one error naming every directory without scalars."""
    runs, refused = [], []
    for work_dir in work_dirs:
        try:
            runs.append(read_run(work_dir))
        except FileNotFoundError as error:
            refused.append(str(error))
    if refused:
        raise SystemExit(
            'compare_runs: refusing work directories without scalars:\n  ' + '\n  '.join(refused)
        )
    return runs


def refuse_repeated_seeds(groups):
    """A seed twice in one group: these runs are not the seeds of one experiment."""
    repeated = repeated_seeds(groups)
    if repeated:
        lines = [
            f'{name}: seed {seed} in {", ".join(dirs)}'
            for name, seeds in repeated.items()
            for seed, dirs in seeds.items()
        ]
        raise SystemExit(
            'compare_runs: runs with the same seed and the same config (after '
            '--ignore) are not seeds of one experiment; give each experiment its '
            'own experiment_name or compare them separately:\n  ' + '\n  '.join(lines)
        )


def measure_groups(groups, num_images):
    import mmdiverse  # noqa: F401  (registers the models the configs name)
    from mmdiverse.analysis.run_redundancy import run_redundancy

    return {g.name: [run_redundancy(run, num_images) for run in g.runs] for g in groups}


def main(argv=None):
    args = parse_args(argv)
    runs = read_runs(args.work_dirs)
    groups = group_runs(runs, args.ignore)
    refuse_repeated_seeds(groups)
    comparison = compare_groups(
        groups, differing_keys(groups, args.ignore), same_name_differences(groups, args.ignore)
    )
    redundancy = measure_groups(groups, args.num_images) if args.redundancy else None
    if redundancy:
        comparison['redundancy'] = redundancy
    os.makedirs(args.out_dir, exist_ok=True)
    markdown = comparison_markdown(comparison)
    with open(osp.join(args.out_dir, 'compare.md'), 'w') as f:
        f.write('# Run comparison\n\n' + markdown + '\n')
    with open(osp.join(args.out_dir, 'compare.json'), 'w') as f:
        json.dump(comparison, f, indent=2)
    plot_comparison(groups, osp.join(args.out_dir, 'compare.png'), redundancy)
    print(markdown)
    print(f'wrote {osp.join(args.out_dir, "compare.{md,json,png}")}')
    return comparison


if __name__ == '__main__':
    main()
