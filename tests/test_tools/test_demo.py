"""tools/demo (``python -m tools.demo``): the quick end-to-end run, its progress
display (tools/demo/progress.py) and the per-term ablation (tools/demo/ablation.py)."""

import io
import json
import math
import os.path as osp
import re
import sys

import pytest
from rich.console import Console

from mmdiverse.analysis.training_log import parse_log_line
from tests.helpers.tools import run_tool
from tools.demo.ablation import parse_weights
from tools.demo.progress import StepRunner, describe

# A child that logs as mmengine does (two epochs of 4 iterations, a val line).
FAKE_LOG = [
    'Loads checkpoint by local backend from path: x.pth',
    '12/01 13:02:11 - mmengine - INFO - Epoch(train) [1][2/4]  lr: 1.0e-03  eta: 0:00:09  '
    'time: 0.1  data_time: 0.01  loss: 1.3862',
    '12/01 13:02:12 - mmengine - INFO - Epoch(train) [2][4/4]  lr: 1.0e-03  eta: 0:00:01  '
    'time: 0.1  data_time: 0.01  loss: 0.5000  loss_cls: 0.4000',
    '12/01 13:02:13 - mmengine - INFO - Epoch(val) [2][1/1]    accuracy/top1: 50.0000',
]


def fake_child(lines, returncode=0):
    code = f'import sys\nfor line in {lines!r}: print(line)\nsys.exit({returncode})'
    return [sys.executable, '-c', code]


def test_describe_counts_epochs_into_the_fraction():
    progress = parse_log_line(FAKE_LOG[1])
    assert describe(progress, max_epochs=3) == ('epoch 1/3 iter 2/4', 2, 12)
    iteration = parse_log_line(
        'Iter(train) [ 50/500]  lr: 1e-3  eta: 0:02:10  time: 0.1  data_time: 0.0  loss: 0.7'
    )
    assert describe(iteration) == ('iter 50/500', 50, 500)
    assert describe(parse_log_line(FAKE_LOG[3]))[0] == 'epoch 2 val 1/1'


def test_plain_progress_lines_full_log_and_timing(tmp_path):
    out = io.StringIO()
    steps = StepRunner(Console(file=out, force_terminal=False, width=200), plain_interval_s=0)
    log_file = str(tmp_path / 'step' / 'tool_output.log')
    record = steps.run(
        'pretrain demo', fake_child(FAKE_LOG), log_file, cwd=str(tmp_path), max_epochs=2
    )
    text = out.getvalue()
    assert 'pretrain demo: epoch 1/2 iter 2/4  loss 1.3862  eta 0:00:09' in text
    assert 'pretrain demo: epoch 2/2 iter 4/4  loss 0.5000  eta 0:00:01' in text
    # a val line follows the training position and keeps its loss and ETA
    assert 'pretrain demo: epoch 2/2 iter 4/4, epoch 2 val 1/1  loss 0.5000  eta 0:00:01' in text
    assert re.search(r'pretrain demo: done in \d+\.\d s', text)
    assert open(log_file).read().splitlines() == FAKE_LOG  # every line, unparsed ones too
    assert record.log_file == log_file and record.seconds > 0
    table = steps.timing_table()
    assert f'| pretrain demo | {record.seconds:.1f} | `{log_file}` |' in table
    assert f'| total | {record.seconds:.1f} |' in table


def test_plain_lines_are_throttled(tmp_path):
    out = io.StringIO()
    steps = StepRunner(Console(file=out, force_terminal=False, width=200), plain_interval_s=3600)
    steps.run('step', fake_child(FAKE_LOG), str(tmp_path / 'log.txt'), cwd=str(tmp_path))
    assert out.getvalue().count('step: epoch') == 1  # only the first


def test_live_progress_on_a_terminal(tmp_path):
    out = io.StringIO()
    steps = StepRunner(Console(file=out, force_terminal=True, width=200))
    steps.run(
        'UperNet demo',
        fake_child(FAKE_LOG),
        str(tmp_path / 'log.txt'),
        cwd=str(tmp_path),
        max_epochs=2,
    )
    text = re.sub(r'\x1b\[[0-9;?]*[A-Za-z]', '', out.getvalue())  # drop terminal codes
    # every log line is drawn, the last one stays
    assert 'UperNet demo' in text and 'epoch 1/2 iter 2/4 loss 1.3862 eta 0:00:09' in text
    assert 'epoch 2/2 iter 4/4, epoch 2 val 1/1 loss 0.5000 eta 0:00:01' in text


def test_failed_step_names_its_log(tmp_path, capsys):
    steps = StepRunner(Console(file=io.StringIO()))
    log_file = str(tmp_path / 'log.txt')
    with pytest.raises(SystemExit, match=re.escape(log_file)):
        steps.run(
            'broken', fake_child(['Traceback: boom'], returncode=3), log_file, cwd=str(tmp_path)
        )
    assert 'boom' in capsys.readouterr().err
    assert steps.records == []


def rendezvous_child(own, other):
    """A child that writes its flag file, waits up to 60 s for the other's and
    prints its thread setting: it ends only if the two run at the same time."""
    code = (
        'import os, pathlib, sys, time\n'
        f'pathlib.Path({own!r}).touch()\n'
        'deadline = time.time() + 60\n'
        f'while not os.path.exists({other!r}):\n'
        '    if time.time() > deadline: sys.exit(7)\n'
        '    time.sleep(0.05)\n'
        "print('threads', os.environ.get('OMP_NUM_THREADS'))\n"
    )
    return [sys.executable, '-c', code]


def test_map_runs_jobs_at_once_with_a_share_of_the_threads(tmp_path, monkeypatch):
    monkeypatch.setattr('os.cpu_count', lambda: 4)
    steps = StepRunner(Console(file=io.StringIO()), jobs=2)
    assert steps.threads == 2
    flags = {name: str(tmp_path / f'{name}.flag') for name in 'ab'}

    def step(pair):
        own, other = pair
        log_file = str(tmp_path / f'{own}.log')
        steps.run(own, rendezvous_child(flags[own], flags[other]), log_file, cwd=str(tmp_path))
        return open(log_file).read().strip()

    assert steps.map(step, [('a', 'b'), ('b', 'a')]) == ['threads 2', 'threads 2']
    assert sorted(r.name for r in steps.records) == ['a', 'b']
    assert 'Steps ran up to 2 at a time, 2 CPU thread(s) each' in steps.timing_table()


def test_one_job_leaves_the_thread_setting_alone(tmp_path, monkeypatch):
    monkeypatch.setenv('OMP_NUM_THREADS', '3')
    steps = StepRunner(Console(file=io.StringIO()))
    log_file = str(tmp_path / 'log.txt')
    code = "import os; print('threads', os.environ.get('OMP_NUM_THREADS'))"
    assert steps.map(
        lambda _: steps.run('one', [sys.executable, '-c', code], log_file, cwd=str(tmp_path)),
        [0],
    )
    assert open(log_file).read().strip() == 'threads 3'
    assert 'at a time' not in steps.timing_table()
    with pytest.raises(ValueError, match='jobs=0'):
        StepRunner(jobs=0)


def test_after_a_failed_step_no_other_step_starts(tmp_path):
    steps = StepRunner(Console(file=io.StringIO()), jobs=2)
    slow = [sys.executable, '-c', 'import time; time.sleep(2)']

    def chain(name):
        first = fake_child(['boom'], returncode=3) if name == 'bad' else slow
        steps.run(name, first, str(tmp_path / name), str(tmp_path))
        # the chain's next step: refused in the slow chain once 'bad' has failed
        steps.run(f'{name} next', fake_child(['x']), str(tmp_path / f'{name}2'), str(tmp_path))

    with pytest.raises(SystemExit, match="'bad'"):
        steps.map(chain, ['bad', 'slow'])
    assert [r.name for r in steps.records] == ['slow']
    with pytest.raises(SystemExit, match='an earlier step failed'):
        steps.run('later', fake_child(['x']), str(tmp_path / 'later'), str(tmp_path))


def test_ablation_weights_parse_and_refuse_bad_input():
    runs = parse_weights(['attn_div=2,20', 'weight_cond=0.1'])
    assert [w for t, w in runs if t == 'attn_div'] == [2.0, 20.0]
    assert [w for t, w in runs if t == 'weight_cond'] == [0.1]
    assert ('patch_cos', 0.5) in runs
    for bad, message in (
        ('attn=1', 'TERM one of'),
        ('attn_div', 'TERM=W'),
        ('attn_div=x', 'not a list of numbers'),
        ('attn_div=-1', 'must be > 0'),
    ):
        with pytest.raises(ValueError, match=message):
            parse_weights([bad])


@pytest.mark.slow
@pytest.mark.timeout(1800)  # 8 tool runs; on a loaded 2-core machine past the 900 s default
def test_quick_demo_runs_end_to_end(tmp_path):
    work_dir, data_root = str(tmp_path / 'demo'), str(tmp_path / 'data')
    result = run_tool(
        '-m',
        'tools.demo',
        '--quick',
        '--skip-selfsup',  # tests/test_tools/test_demo_selfsup.py runs that track
        '--work-dir',
        work_dir,
        '--data-root',
        data_root,
        timeout=1500,
    )
    summary = json.load(open(osp.join(work_dir, 'summary.json')))
    assert set(summary['variants']) == {'baseline', 'diverse'}
    for name, variant in summary['variants'].items():
        for key in ('top1', 'mIoU', 'last_layer_patch_similarity', 'wall_time_s'):
            assert math.isfinite(variant[key]), (name, key)
        assert 0 <= variant['top1'] <= 100 and 0 <= variant['mIoU'] <= 100
        # The numbers are the run's own: the test loop's metrics file and the report.
        metrics = json.load(
            open(osp.join(work_dir, f'pretrain_{name}', 'test', 'test_metrics.json'))
        )
        assert variant['top1'] == metrics['accuracy/top1']
        per_layer = summary['per_layer'][name]['patch_similarity']
        assert len(per_layer) == 4
        assert variant['last_layer_patch_similarity'] == list(per_layer.values())[-1]
    assert osp.getsize(osp.join(work_dir, 'patch_similarity.png')) > 1000
    table = open(osp.join(work_dir, 'summary.md')).read()
    assert '| baseline |' in table and '| diverse |' in table
    assert '| diverse |' in result.stdout
    # progress of every kind of step, from the tools' own log lines
    for line in (
        'pretrain baseline: epoch 1/2 iter 1/1  loss',
        'test diverse: test 1/',
        'UperNet diverse: iter 1/4  loss',
        'UperNet test baseline: test 1/',
    ):
        assert line in result.stdout, line
    # each step's time and log, in the output and in summary.md
    steps = summary['steps']
    assert len(steps) == 8 and 'selfsup' not in summary
    for step in steps:
        assert osp.isfile(step['log_file']) and step['seconds'] > 0
        assert f'| {step["name"]} | {step["seconds"]:.1f} | `{step["log_file"]}` |' in table
    assert re.search(r'\| total \| \d+\.\d \| \|', result.stdout)
    assert 'Redundancy levels' in table and 'head sim, block 0 (regularized)' in table


@pytest.mark.slow
@pytest.mark.timeout(1800)  # 6 training runs
def test_each_term_alone_lowers_its_own_measure(tmp_path):
    # A few dozen steps (24 epochs of one 32-image batch) per run, large weights.
    work_dir, data_root = str(tmp_path / 'demo'), str(tmp_path / 'data')
    run_tool(
        '-m',
        'tools.demo',
        '--ablation',
        '--quick',
        '--ablation-epochs',
        '24',
        '--work-dir',
        work_dir,
        '--data-root',
        data_root,
        '--weight',
        'patch_cos=2',
        'patch_contrast=2',
        'patch_mix=2',
        'attn_div=2',
        'weight_cond=0.5',
        timeout=1700,
    )
    ablation = json.load(open(osp.join(work_dir, 'ablation.json')))['ablation']
    assert ablation['seed'] == 0 and ablation['epochs'] == 24
    assert sorted(row['term'] for row in ablation['rows']) == sorted(
        ['patch_cos', 'patch_contrast', 'patch_mix', 'attn_div', 'weight_cond']
    )
    for row in ablation['rows']:
        own = row['own_measure']
        assert row['measures'][own] < ablation['baseline'][own], row
    table = open(osp.join(work_dir, 'ablation.md')).read()
    assert '| baseline (no term) |' in table and '`attn_div` alone | 2 |' in table
