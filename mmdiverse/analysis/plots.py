"""Plots comparing redundancy reports of several checkpoints."""

import math
from typing import Dict

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


def plot_redundancy(reports: Dict[str, dict], out_file: str) -> str:
    """Per-layer patch similarity (and head similarity / the geometric mean
    of the q, k, v condition numbers where measured), one line per checkpoint.

    Args:
        reports: ``{label: redundancy_report(...)}``.
        out_file: PNG path.

    Returns:
        str: ``out_file``.
    """
    panels = [('patch_similarity', 'patch cosine similarity')]
    if any(r['head_similarity'] for r in reports.values()):
        panels.append(('head_similarity', 'attention-head similarity'))
    if any(r['condition_number'] for r in reports.values()):
        panels.append(('condition_number', 'q/k/v condition number (geometric mean)'))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    for ax, (key, title) in zip(axes[0], panels):
        for label, report in reports.items():
            values = report[key]
            if key == 'condition_number':
                values = {
                    layer: math.exp(sum(map(math.log, qkv.values())) / len(qkv))
                    for layer, qkv in values.items()
                }
            if values:
                ax.plot(range(len(values)), list(values.values()), marker='o', label=label)
        ax.set_title(title)
        ax.set_xlabel('block')
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if key == 'condition_number':
            ax.set_yscale('log')
    axes[0][0].legend()
    fig.tight_layout()
    fig.savefig(out_file, dpi=120)
    plt.close(fig)
    return out_file
