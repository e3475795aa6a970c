"""The tables of ``summary.md`` / ``ablation.md`` and the files the demo writes."""
import json
import os.path as osp


def levels_table(reports):
    """The three redundancy levels of each variant, at the block the diverse
    config regularizes (block 0 for the attention term) and over all blocks."""
    from mmdiverse.analysis.ablation import own_measures
    lines = ['| variant | last-block patch cos | head sim, block 0 (regularized) | '
             'head sim, mean of blocks | q/k/v cond, geometric mean |', '|---|---|---|---|---|']
    for name, report in reports.items():
        m = own_measures(report, attn_blocks=(0, ))
        heads = list(report['head_similarity'].values())
        lines.append(f"| {name} | {m['patch_similarity']:.3f} | {m['head_similarity']:.3f} | "
                     f"{sum(heads) / len(heads):.3f} | {m['condition_number']:.2f} |")
    return '\n'.join(lines)


def variants_table(results):
    lines = ['| variant | top-1 (%) | mIoU (%) | last-layer patch cos | wall time (s) |',
             '|---|---|---|---|---|']
    for name, r in results.items():
        lines.append(f"| {name} | {r['top1']:.2f} | {r['mIoU']:.2f} | "
                     f"{r['last_layer_patch_similarity']:.3f} | {r['wall_time_s']:.0f} |")
    return '\n'.join(lines)


def write_summary(work_dir, steps, total_s, results=None, reports=None, plot=None,
                  ablation=None):
    """``summary.{json,md}``; ``ablation.{json,md}`` for an ablation-only run
    (so that it leaves a full run's summary in place)."""
    summary = dict(variants=results, per_layer=reports, plot=plot, ablation=ablation,
                   steps=[r._asdict() for r in steps.records], total_wall_time_s=total_s)
    stem = osp.join(work_dir, 'summary' if results else 'ablation')
    with open(stem + '.json', 'w') as f:
        json.dump(summary, f, indent=2)
    parts = ['# mmdiverse demo (synthetic shapes, CPU)']
    if results:
        parts += [variants_table(results),
                  '## Redundancy levels\n\n' + levels_table(reports) +
                  f'\n\nPer-layer curves: `{osp.basename(plot)}`.']
    if ablation:
        parts.append('## Each term alone (ablation)\n\n' + ablation['table'] + '\n\n' +
                     ablation['explanation'])
    parts.append('## Steps\n\nThe full output of each step is in its log file.\n\n' +
                 steps.timing_table() + f'\n\nTotal wall time: {total_s:.0f} s.')
    with open(stem + '.md', 'w') as f:
        f.write('\n\n'.join(parts) + '\n')
    return stem + '.md'
