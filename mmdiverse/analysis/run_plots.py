"""``compare.png``: metric curves and loss terms over training, one colour per
group of runs, the mean over seeds drawn as a line and the range over seeds
shaded; optionally the three per-block redundancy curves of each group's
last checkpoints."""

import math
from typing import Dict, Optional, Sequence

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from .run_comparison import curves  # noqa: E402
from .run_groups import RunGroup  # noqa: E402

#: Per-block panels of the redundancy report: key and title.
REDUNDANCY_PANELS = (
    ('patch_similarity', 'patch cosine similarity per block'),
    ('head_similarity', 'attention-head similarity per block'),
    ('condition_number', 'q/k/v condition number per block'),
)


def block_values(report: dict, key: str) -> list:
    """The per-block values of one redundancy measure; condition numbers as
    the geometric mean of each block's q, k and v."""
    values = report[key]
    if key == 'condition_number':
        return [
            math.exp(sum(math.log(c) for c in qkv.values()) / len(qkv)) for qkv in values.values()
        ]
    return list(values.values())


def _band(ax, xs, series, colour, label, log=False):
    """Mean line and min-max band of ``series`` (one list per seed)."""
    columns = list(zip(*series))
    if log:
        mean = [math.exp(sum(math.log(v) for v in c) / len(c)) for c in columns]
    else:
        mean = [sum(c) / len(c) for c in columns]
    ax.plot(xs, mean, color=colour, label=f'{label} (n={len(series)})', marker='.')
    if len(series) > 1:
        low, high = [min(c) for c in columns], [max(c) for c in columns]
        if len(columns) == 1:  # one point (e.g. a single validation): a range bar
            ax.errorbar(
                list(xs),
                mean,
                yerr=[[m - lo for m, lo in zip(mean, low)], [hi - m for m, hi in zip(mean, high)]],
                color=colour,
                capsize=4,
                linewidth=0,
                elinewidth=1.5,
            )
        else:
            ax.fill_between(xs, low, high, color=colour, alpha=0.2, linewidth=0)


def plot_comparison(
    groups: Sequence[RunGroup], out_file: str, redundancy: Optional[Dict[str, list]] = None
) -> str:
    """Draw every metric and loss term of ``groups`` over training.

    Args:
        groups: the groups (:func:`~mmdiverse.analysis.run_groups.group_runs`).
        out_file: PNG path.
        redundancy: ``{group name: [redundancy report per seed]}``
            (:func:`~mmdiverse.analysis.redundancy_report`) for the three
            per-block panels; None for none.

    Returns:
        str: ``out_file``.
    """
    metrics = list(dict.fromkeys(m for g in groups for r in g.runs for m in r.metric_names()))
    losses = list(dict.fromkeys(m for g in groups for r in g.runs for m in r.loss_names()))
    panels = [('val', m) for m in metrics] + [('train', m) for m in losses]
    if redundancy:
        panels += [
            ('block', key)
            for key, _ in REDUNDANCY_PANELS
            if any(r[key] for reports in redundancy.values() for r in reports)
        ]
    cols = min(3, max(1, len(panels)))
    rows = max(1, math.ceil(len(panels) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.4 * rows), squeeze=False)
    colours = plt.rcParams['axes.prop_cycle'].by_key()['color']
    for ax, (kind, name) in zip(axes.flat, panels):
        for index, group in enumerate(groups):
            colour = colours[index % len(colours)]
            if kind == 'block':
                series = [block_values(r, name) for r in redundancy.get(group.name, [])]
                series = [s for s in series if s]
                if series:
                    _band(
                        ax,
                        range(len(series[0])),
                        series,
                        colour,
                        group.name,
                        log=name == 'condition_number',
                    )
                continue
            data = curves(group.runs, name, train=kind == 'train')
            if data and data['steps']:
                _band(ax, data['steps'], data['values'], colour, group.name)
        _label(ax, kind, name)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    # one legend for the figure: a group missing from the first panel is still named
    handles = {}
    for ax in axes.flat:
        for line in ax.get_lines():
            if not line.get_label().startswith('_'):  # error-bar parts are unnamed
                handles.setdefault(line.get_label(), line)
    if handles:
        fig.legend(
            list(handles.values()),
            list(handles),
            loc='lower center',
            ncol=min(4, len(handles)),
            fontsize='small',
        )
    fig.tight_layout(rect=(0, 0.05 if handles else 0, 1, 1))
    fig.savefig(out_file, dpi=110)
    plt.close(fig)
    return out_file


def _label(ax, kind, name):
    titles = dict(REDUNDANCY_PANELS)
    ax.set_title(titles.get(name, name) if kind == 'block' else name)
    ax.set_xlabel(
        {'val': 'validation step (epoch or iteration)', 'train': 'iteration', 'block': 'block'}[
            kind
        ]
    )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    if kind == 'block' and name == 'condition_number':
        ax.set_yscale('log')
