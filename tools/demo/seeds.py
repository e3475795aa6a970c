"""The demo over several seeds: its runs compared by :mod:`tools.analysis.compare_runs`.

The pretraining runs of all variants and seeds go into one comparison
(``compare_pretrain/``), the UperNet runs into another
(``compare_transfer/``); each groups a variant's seeds by the run's
``experiment_name`` (:func:`tools.demo.pipeline.run_variant`) and reports the
best and final validation metrics, time per iteration and loss terms as
mean ± std over the seeds.
"""

import os.path as osp

from mmdiverse.analysis.run_comparison import comparison_markdown
from tools.analysis import compare_runs

#: The key that differs between the seeds of one transfer variant besides the
#: seed: each seed fine-tunes its own pretrained checkpoint.
TRANSFER_IGNORE = 'model.backbone.init_cfg.checkpoint'


def compare_seeds(per_variant, work_dir):
    """Run compare_runs on the pretraining and on the transfer work directories.

    Args:
        per_variant: ``{variant: [run_variant result per seed]}``.
        work_dir: the demo's work directory.

    Returns:
        dict: a :func:`tools.demo.summary.write_summary` section (``title``,
        ``markdown``, and ``pretrain`` / ``transfer``: the two comparisons).
    """
    runs = [r for per_seed in per_variant.values() for r in per_seed]
    pretrain_out = osp.join(work_dir, 'compare_pretrain')
    transfer_out = osp.join(work_dir, 'compare_transfer')
    pretrain = compare_runs.main([*(r['pretrain_dir'] for r in runs), '--out-dir', pretrain_out])
    transfer = compare_runs.main(
        [*(r['seg_dir'] for r in runs), '--out-dir', transfer_out, '--ignore', TRANSFER_IGNORE]
    )
    markdown = '\n\n'.join(
        [
            '### Pretraining (validation during training)',
            comparison_markdown(pretrain),
            f'Curves: `{osp.basename(pretrain_out)}/compare.png`.',
            '### UperNet transfer',
            comparison_markdown(transfer),
            f'Curves: `{osp.basename(transfer_out)}/compare.png`.',
        ]
    )
    return dict(
        title='Over seeds (tools/analysis/compare_runs.py)',
        markdown=markdown,
        pretrain=pretrain,
        transfer=transfer,
    )
