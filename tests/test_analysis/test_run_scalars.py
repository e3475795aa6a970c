"""mmdiverse.analysis.run_scalars: reading a work directory's mmengine scalars."""

import json

import pytest

from mmdiverse.analysis.run_scalars import read_run

CONFIG = "randomness = dict(seed=3)\nmodel = dict(type='ImageClassifier')\n"


def launch(work_dir, stamp, records, config=CONFIG):
    """One launch directory as mmengine's LocalVisBackend writes it."""
    vis = work_dir / stamp / 'vis_data'
    vis.mkdir(parents=True)
    (vis / 'scalars.json').write_text(''.join(json.dumps(r) + '\n' for r in records))
    if config is not None:
        (vis / 'config.py').write_text(config)


def train(step, loss, **extra):
    return dict(lr=1e-3, time=0.5, loss=loss, step=step, iter=step, **extra)


def test_train_and_val_records_metrics_and_losses(tmp_path):
    launch(
        tmp_path,
        '20260101_000000',
        [
            train(1, 2.0, loss_cls=1.5, loss_patch_cos=0.5),
            {
                'accuracy/top1': 10.0,
                'accuracy/top5': 50.0,
                'time': 0.1,
                'data_time': 0.0,
                'step': 1,
            },
            train(2, 1.0, loss_cls=0.8, loss_patch_cos=0.2),
        ],
    )
    run = read_run(str(tmp_path))
    assert [r['step'] for r in run.train] == [1, 2]
    assert [r['accuracy/top1'] for r in run.val] == [10.0]
    assert run.metric_names() == ['accuracy/top1', 'accuracy/top5']
    assert run.loss_names() == ['loss', 'loss_cls', 'loss_patch_cos']
    assert run.config['randomness']['seed'] == 3
    assert run.config_file.endswith('20260101_000000/vis_data/config.py')


def test_resumed_run_reads_launches_in_order(tmp_path):
    # the first launch died after step 3; the resumed one logged step 3 again
    launch(tmp_path, '20260101_000000', [train(2, 3.0), train(3, 2.5)])
    launch(
        tmp_path,
        '20260102_000000',
        [train(3, 2.4), train(4, 2.0), {'accuracy/top1': 40.0, 'step': 1}],
        config=CONFIG.replace('seed=3', 'seed=4'),
    )
    run = read_run(str(tmp_path))
    assert [(r['step'], r['loss']) for r in run.train] == [(2, 3.0), (3, 2.4), (4, 2.0)]
    assert run.config['randomness']['seed'] == 4  # the last launch's config


def test_refuses_directories_without_scalars(tmp_path):
    with pytest.raises(FileNotFoundError, match='not a directory'):
        read_run(str(tmp_path / 'missing'))
    (tmp_path / 'test' / '20260101_000000').mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r'test: no scalars'):
        read_run(str(tmp_path / 'test'))
    launch(tmp_path / 'empty', 's', [])
    with pytest.raises(FileNotFoundError, match='empty'):
        read_run(str(tmp_path / 'empty'))
    launch(tmp_path / 'noconfig', 's', [train(1, 1.0)], config=None)
    with pytest.raises(FileNotFoundError, match='no vis_data/config.py'):
        read_run(str(tmp_path / 'noconfig'))


def test_garbled_line_is_named(tmp_path):
    launch(tmp_path, 's', [train(1, 1.0)])
    with open(tmp_path / 's' / 'vis_data' / 'scalars.json', 'a') as f:
        f.write('{"loss": \n')
    with pytest.raises(ValueError, match=r'scalars.json, line 2: not JSON'):
        read_run(str(tmp_path))
