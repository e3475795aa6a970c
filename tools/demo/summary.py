"""The tables of ``summary.md`` / ``ablation.md`` and the files the demo writes."""

import json
import os.path as osp


def levels_table(reports):
    """The three redundancy levels of each variant, at the block the diverse
    config regularizes (block 0 for the attention term) and over all blocks."""
    from mmdiverse.analysis.ablation import own_measures

    lines = [
        '| variant | last-block patch cos | head sim, block 0 (regularized) | '
        'head sim, mean of blocks | q/k/v cond, geometric mean |',
        '|---|---|---|---|---|',
    ]
    for name, report in reports.items():
        m = own_measures(report, attn_blocks=(0,))
        heads = list(report['head_similarity'].values())
        lines.append(
            f'| {name} | {m["patch_similarity"]:.3f} | {m["head_similarity"]:.3f} | '
            f'{sum(heads) / len(heads):.3f} | {m["condition_number"]:.2f} |'
        )
    return '\n'.join(lines)


def variant_summary(per_seed):
    """One variant over its seeds: the mean of each number (``*_std`` beside
    it with more than one seed), the summed wall time and every seed's own
    numbers under ``seeds``."""
    from mmdiverse.analysis.seed_stats import seed_stats

    summary = dict(
        num_seeds=len(per_seed),
        seeds=per_seed,
        wall_time_s=round(sum(r['wall_time_s'] for r in per_seed), 1),
    )
    for key in ('top1', 'mIoU', 'mAcc', 'aAcc', 'last_layer_patch_similarity'):
        stat = seed_stats([r.get(key) for r in per_seed])
        if stat is not None:
            summary[key] = stat['mean']
            if stat['n'] > 1:
                summary[key + '_std'] = stat['std']
    return summary


def variants_table(results):
    """Top-1, mIoU and last-layer patch similarity of each variant (mean ± std
    over seeds where there are several)."""

    def cell(r, key, digits):
        std = f' ± {r[key + "_std"]:.{digits}f}' if key + '_std' in r else ''
        return f'{r[key]:.{digits}f}{std}'

    lines = [
        '| variant | seeds | top-1 (%) | mIoU (%) | last-layer patch cos | wall time (s) |',
        '|---|---|---|---|---|---|',
    ]
    for name, r in results.items():
        lines.append(
            f'| {name} | {r["num_seeds"]} | {cell(r, "top1", 2)} | '
            f'{cell(r, "mIoU", 2)} | {cell(r, "last_layer_patch_similarity", 3)} | '
            f'{r["wall_time_s"]:.0f} |'
        )
    return '\n'.join(lines)


def write_summary(
    work_dir, steps, total_s, results=None, reports=None, plot=None, ablation=None, sections=None
):
    """``summary.{json,md}``; ``ablation.{json,md}`` for an ablation-only run
    (so that it leaves a full run's summary in place).

    Args:
        sections: ``{key: {'title', 'markdown', ...}}`` of further parts
            (the comparison over seeds, other tracks), each written under
            ``key`` in the JSON and as a titled section in the markdown.
    """
    sections = sections or {}
    summary = dict(
        variants=results,
        per_layer=reports,
        plot=plot,
        ablation=ablation,
        **sections,
        steps=[r._asdict() for r in steps.records],
        total_wall_time_s=total_s,
    )
    stem = osp.join(work_dir, 'summary' if results else 'ablation')
    with open(stem + '.json', 'w') as f:
        json.dump(summary, f, indent=2)
    parts = ['# mmdiverse demo (synthetic shapes, CPU)']
    if results:
        parts += [
            variants_table(results),
            '## Redundancy levels\n\n'
            + levels_table(reports)
            + f'\n\nPer-layer curves: `{osp.basename(plot)}`.',
        ]
    parts += [f'## {part["title"]}\n\n{part["markdown"]}' for part in sections.values()]
    if ablation:
        parts.append(
            '## Each term alone (ablation)\n\n'
            + ablation['table']
            + '\n\n'
            + ablation['explanation']
        )
    parts.append(
        '## Steps\n\nThe full output of each step is in its log file.\n\n'
        + steps.timing_table()
        + f'\n\nTotal wall time: {total_s:.0f} s.'
    )
    with open(stem + '.md', 'w') as f:
        f.write('\n\n'.join(parts) + '\n')
    return stem + '.md'
