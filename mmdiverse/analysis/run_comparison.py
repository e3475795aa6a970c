"""Compare groups of runs (one group per experiment, one run per seed).

Per run, from its logged scalars: the best and the final value of each
validation metric, the median logged training time per iteration, the peak
memory (``memory``, logged by mmengine on CUDA only) and each loss term of the
last training record. Per group, each of these as mean ± std over its seeds
(:func:`~mmdiverse.analysis.seed_stats.seed_stats`).
"""

import statistics
from typing import Dict, List, Optional, Sequence

from .run_groups import RunGroup
from .run_scalars import RunScalars
from .seed_stats import format_stat, seed_stats

#: Config keys listed in the markdown (the JSON lists them all).
MAX_KEYS_SHOWN = 12


def lower_is_better(metric: str) -> bool:
    """Losses and errors are minimized; accuracies and IoUs maximized."""
    return 'loss' in metric or 'error' in metric


def run_summary(run: RunScalars) -> dict:
    """The numbers of one run.

    Returns:
        dict: ``metrics`` ``{name: {best, final}}``, ``time_per_iter``
        (seconds, median of the logged training ``time``; None if not
        logged), ``memory`` (MB, max of the logged ``memory``; None if not
        logged), ``losses`` ``{name: value in the last training record}``
        and ``iters`` (step of the last training record).
    """
    metrics = {}
    for name in run.metric_names():
        values = [r[name] for r in run.val if name in r]
        best = min(values) if lower_is_better(name) else max(values)
        metrics[name] = dict(best=best, final=values[-1])
    times = [r['time'] for r in run.train if 'time' in r]
    memory = [r['memory'] for r in run.train if 'memory' in r]
    last = run.train[-1] if run.train else {}
    return dict(
        metrics=metrics,
        time_per_iter=statistics.median(times) if times else None,
        memory=max(memory) if memory else None,
        losses={k: v for k, v in last.items() if 'loss' in k},
        iters=last.get('step'),
    )


def group_summary(group: RunGroup) -> dict:
    """Mean ± std over the seeds of ``group`` of every :func:`run_summary` number.

    Returns:
        dict: ``name``, ``work_dirs``, ``seeds``, ``num_seeds``, ``metrics``
        ``{name: {best: stat, final: stat}}``, ``time_per_iter`` (stat),
        ``memory`` (stat), ``losses`` ``{name: stat}`` (a stat is a
        :func:`seed_stats` dict, None where no seed logged the value).
    """
    runs = [run_summary(run) for run in group.runs]
    metric_names = _ordered(name for r in runs for name in r['metrics'])
    loss_names = _ordered(name for r in runs for name in r['losses'])
    metric = lambda r, name, kind: r['metrics'].get(name, {}).get(kind)  # noqa: E731
    return dict(
        name=group.name,
        work_dirs=[run.work_dir for run in group.runs],
        seeds=group.seeds,
        num_seeds=len(group.runs),
        metrics={
            name: {
                kind: seed_stats([metric(r, name, kind) for r in runs])
                for kind in ('best', 'final')
            }
            for name in metric_names
        },
        time_per_iter=seed_stats([r['time_per_iter'] for r in runs]),
        memory=seed_stats([r['memory'] for r in runs]),
        losses={name: seed_stats([r['losses'].get(name) for r in runs]) for name in loss_names},
    )


def compare_groups(
    groups: Sequence[RunGroup],
    differing: Sequence[str] = (),
    same_name: Optional[Dict[str, dict]] = None,
) -> dict:
    """:func:`group_summary` of each group, the config keys in which the groups
    differ (``differing``) and, for groups that share an experiment name, the
    keys that split them (``same_name``, from
    :func:`~mmdiverse.analysis.run_groups.same_name_differences`)."""
    return dict(
        groups=[group_summary(g) for g in groups],
        differing_keys=list(differing),
        same_name_differences=dict(same_name or {}),
    )


def comparison_markdown(comparison: dict) -> str:
    """Two markdown tables: metrics, time and memory; each loss term at the end."""
    groups = comparison['groups']
    metrics = _ordered(name for g in groups for name in g['metrics'])
    head = ['run', 'seeds'] + [f'{m} {kind}' for m in metrics for kind in ('best', 'final')]
    head += ['s / iter', 'peak memory (MB)']
    rows = []
    for g in groups:
        cells = [g['name'], str(g['num_seeds'])]
        for m in metrics:
            stats = g['metrics'].get(m, {})
            cells += [format_stat(stats.get('best')), format_stat(stats.get('final'))]
        cells += [format_stat(g['time_per_iter'], 3), format_stat(g['memory'], 0)]
        rows.append(cells)
    parts = ['Mean ± std over seeds (number of seeds in brackets).', _table(head, rows)]
    losses = _ordered(name for g in groups for name in g['losses'])
    if losses:
        rows = [
            [g['name']] + [format_stat(g['losses'].get(name), 4) for name in losses] for g in groups
        ]
        parts += [
            'Loss terms at the last logged training iteration:',
            _table(['run'] + losses, rows),
        ]
    differing = comparison.get('differing_keys') or []
    if differing:
        keys = ', '.join(f'`{k}`' for k in differing[:MAX_KEYS_SHOWN])
        more = (
            f' and {len(differing) - MAX_KEYS_SHOWN} more (all in compare.json)'
            if len(differing) > MAX_KEYS_SHOWN
            else ''
        )
        parts.append(f'The groups differ in: {keys}{more}.')
    for name, split in (comparison.get('same_name_differences') or {}).items():
        keys = ', '.join(f'`{k}`' for k in split['keys'][:MAX_KEYS_SHOWN])
        parts.append(
            f'`{name}` has the name of `{split["first"]}` but not its config '
            f'(changed between the runs?): {keys}.'
        )
    return '\n\n'.join(parts)


def curves(runs: Sequence[RunScalars], name: str, train: bool) -> Optional[Dict[str, list]]:
    """One quantity over training for the seeds of a group, on the steps all
    seeds logged: ``{'steps': [...], 'values': [[seed 0 ...], ...]}``, or
    None when no run logged it."""
    series = []
    for run in runs:
        records = run.train if train else run.val
        points = {r['step']: r[name] for r in records if name in r and 'step' in r}
        if points:
            series.append(points)
    if not series:
        return None
    steps = sorted(set.intersection(*(set(s) for s in series)))
    return dict(steps=steps, values=[[s[step] for step in steps] for s in series])


def _ordered(names) -> List[str]:
    return list(dict.fromkeys(names))


def _table(head: List[str], rows: List[List[str]]) -> str:
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    lines += ['| ' + ' | '.join(row) + ' |' for row in rows]
    return '\n'.join(lines)
