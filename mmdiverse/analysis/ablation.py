"""Per-term ablation: each diversity term against the redundancy level it targets.

Each term of Gong et al. 2021 (patch level) and Chen et al. 2022 (attention and
weight levels) is meant to lower one measure of :func:`redundancy_report`:

* ``patch_cos``, ``patch_contrast``, ``patch_mix``: the mean patch cosine
  similarity of the **last** block's tokens (the tokens these terms read);
* ``attn_div``: the mean attention-head similarity of the blocks it
  regularizes (``tap.attn_layers``, block 0 by default);
* ``weight_cond``: the condition numbers of the q, k, v projections of
  every block (the term sums over all of them), summarized by their geometric
  mean: they spread over orders of magnitude (80 to 61,000 in one trained demo
  backbone), and an arithmetic mean would follow the single worst matrix.

:func:`own_measures` reads these three numbers from a report and
:func:`ablation_table` lays out, per term, its own measure beside the
baseline's.
"""

import math
from typing import Dict, List, Mapping, Sequence

#: The measure each term targets (keys of :func:`own_measures`).
TERM_MEASURE = {
    'patch_cos': 'patch_similarity',
    'patch_contrast': 'patch_similarity',
    'patch_mix': 'patch_similarity',
    'attn_div': 'head_similarity',
    'weight_cond': 'condition_number',
}
MEASURE_TITLES = {
    'patch_similarity': 'last-block patch cos',
    'head_similarity': 'head sim, regularized blocks',
    'condition_number': 'q/k/v cond, geometric mean',
}


def own_measures(report: Mapping, attn_blocks: Sequence[int] = (0,)) -> Dict[str, float]:
    """The three measures the terms target, from one redundancy report.

    Args:
        report: a :func:`mmdiverse.analysis.redundancy_report` result.
        attn_blocks: indices of the blocks ``attn_div`` regularizes.

    Returns:
        dict: ``patch_similarity`` (last block), ``head_similarity`` (mean
        over ``attn_blocks``) and ``condition_number`` (geometric mean over
        every q, k, v matrix); NaN where the report has no such measure.
    """
    patch = list(report['patch_similarity'].values())
    heads = list(report['head_similarity'].values())
    conds = [c for qkv in report['condition_number'].values() for c in qkv.values()]
    missing = [b for b in attn_blocks if b >= len(heads)]
    if heads and missing:
        raise ValueError(
            f'attn_blocks {missing} not measured: the report has {len(heads)} '
            'blocks of head similarity'
        )
    return dict(
        patch_similarity=patch[-1] if patch else math.nan,
        head_similarity=(
            sum(heads[b] for b in attn_blocks) / len(attn_blocks) if heads else math.nan
        ),
        condition_number=(
            math.exp(sum(math.log(c) for c in conds) / len(conds)) if conds else math.nan
        ),
    )


def relative_change(value: float, baseline: float) -> float:
    """``(value - baseline) / |baseline|`` (negative: the term lowered it)."""
    return (value - baseline) / abs(baseline) if baseline else math.nan


def ablation_table(rows: List[dict], baseline: Mapping[str, float], seed: int) -> str:
    """Markdown table of each term's effect on its own measure.

    Args:
        rows: one dict per term run: ``term``, ``weight``, ``measures``
            (an :func:`own_measures` result) and optionally
            ``gradient_share`` (:func:`mmdiverse.analysis.gradient_share`
            of the term on the baseline backbone).
        baseline: :func:`own_measures` of the run without any term.
        seed: the runs' seed (stated under the table).

    Returns:
        str: the table (the baseline, then one line per run; each run's own
        measure in bold) and a line stating the seed.
    """
    measures = list(MEASURE_TITLES)
    lines = [
        '| run | loss_weight | gradient vs cls | '
        + ' | '.join(MEASURE_TITLES.values())
        + ' | own measure vs baseline | lowered |',
        '|---|---|---|' + '---|' * len(measures) + '---|---|',
        '| baseline (no term) | - | - | '
        + ' | '.join(f'{baseline[m]:.4g}' for m in measures)
        + ' | | |',
    ]
    for row in rows:
        own = TERM_MEASURE[row['term']]
        cells = [
            f'**{row["measures"][m]:.4g}**' if m == own else f'{row["measures"][m]:.4g}'
            for m in measures
        ]
        value, base = row['measures'][own], baseline[own]
        share = row.get('gradient_share')
        share = '-' if share is None else f'{share:.2g}'
        lines.append(
            f'| `{row["term"]}` alone | {row["weight"]:g} | {share} | '
            + ' | '.join(cells)
            + f' | {relative_change(value, base):+.1%} | '
            f'{"yes" if value < base else "no"} |'
        )
    lines.append(
        f'\nSeed {seed}. Every run trains the same tiny ViT on the same data with the '
        'same recipe and seed; only the named term is added to the baseline.'
    )
    return '\n'.join(lines)
