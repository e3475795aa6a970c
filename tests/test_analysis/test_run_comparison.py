"""mmdiverse.analysis.run_comparison: per-run numbers and their mean ± std per group."""

import math
import statistics

from mmdiverse.analysis.run_comparison import (
    compare_groups,
    comparison_markdown,
    curves,
    run_summary,
)
from mmdiverse.analysis.run_groups import RunGroup
from mmdiverse.analysis.run_scalars import RunScalars


def fake_run(top1, losses, times=(0.5, 0.7, 0.6), memory=None):
    train = [
        dict(
            lr=1e-3,
            time=t,
            loss=value,
            loss_cls=value / 2,
            step=i + 1,
            **({'memory': memory[i]} if memory else {}),
        )
        for i, (t, value) in enumerate(zip(times, losses))
    ]
    val = [
        {'accuracy/top1': v, 'loss_val': 10 - v, 'time': 0.1, 'step': i + 1}
        for i, v in enumerate(top1)
    ]
    return RunScalars('w', train, val, {}, '')


def test_run_summary():
    summary = run_summary(fake_run([10.0, 30.0, 20.0], [3.0, 2.0, 1.5], memory=[100, 300, 200]))
    assert summary['metrics']['accuracy/top1'] == dict(best=30.0, final=20.0)
    # a loss-like metric is minimized
    assert summary['metrics']['loss_val'] == dict(best=-20.0, final=-10.0)
    assert summary['time_per_iter'] == 0.6 and summary['memory'] == 300
    assert summary['losses'] == dict(loss=1.5, loss_cls=0.75) and summary['iters'] == 3


def test_nothing_logged_is_none():
    summary = run_summary(RunScalars('w', [dict(lr=1.0, step=1)], [], {}, ''))
    assert summary['time_per_iter'] is None and summary['memory'] is None
    assert summary['metrics'] == {} and summary['losses'] == {}


def test_group_mean_and_std_over_seeds():
    runs = [fake_run([10.0, 30.0], [2.0, 1.0]), fake_run([20.0, 25.0], [2.0, 3.0])]
    comparison = compare_groups(
        [RunGroup('g', runs, [0, 1])],
        ['model.type'],
        {'g#2': dict(first='g', keys=['runner_type'])},
    )
    (group,) = comparison['groups']
    final = group['metrics']['accuracy/top1']['final']
    assert final['values'] == [30.0, 25.0] and final['mean'] == 27.5
    assert math.isclose(final['std'], statistics.stdev([30.0, 25.0]))
    assert group['metrics']['accuracy/top1']['best']['values'] == [30.0, 25.0]
    assert group['losses']['loss']['values'] == [1.0, 3.0] and group['num_seeds'] == 2
    assert group['memory'] is None
    text = comparison_markdown(comparison)
    assert '| g | 2 | 27.50 ± 3.54 (2) | 27.50 ± 3.54 (2) |' in text
    assert '| g | 2.0000 ± 1.4142 (2) | 1.0000 ± 0.7071 (2) |' in text
    assert 'The groups differ in: `model.type`.' in text
    assert (
        '`g#2` has the name of `g` but not its config (changed between the runs?): '
        '`runner_type`.' in text
    )


def test_curves_keep_the_steps_every_seed_logged():
    a, b = fake_run([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]), fake_run([4.0, 5.0], [1.0, 1.0, 1.0])
    assert curves([a, b], 'accuracy/top1', train=False) == dict(
        steps=[1, 2], values=[[1.0, 2.0], [4.0, 5.0]]
    )
    assert curves([a, b], 'loss_cls', train=True)['values'] == [[1.5, 1.0, 0.5], [0.5, 0.5, 0.5]]
    assert curves([a], 'mIoU', train=False) is None
