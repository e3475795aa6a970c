"""tools/analysis/compare_runs.py on real runs of the demo configs, two seeds each."""

import json
import os.path as osp
import statistics

import pytest

from tools.analysis import compare_runs

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = ('vit_tiny_shapes', 'vit_tiny_shapes_diverse')


def train(config, seed, work_dir, data_root):
    """Two epochs of one batch each (two validations), in-process."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'demo', f'{config}.py'))
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = data_root
    cfg.merge_from_dict(
        {
            'work_dir': work_dir,
            'randomness.seed': seed,
            'train_cfg.max_epochs': 2,
            'default_hooks.logger.interval': 1,
        }
    )
    Runner.from_cfg(cfg).train()


@pytest.fixture(scope='module')
def seed_runs(tmp_path_factory, shapes_cls_root):
    """``{config: [work dir of seed 0, of seed 1]}``."""
    root = tmp_path_factory.mktemp('seed_runs')
    runs = {}
    for config in CONFIGS:
        for seed in (0, 1):
            work_dir = str(root / f'{config}_seed{seed}')
            train(config, seed, work_dir, shapes_cls_root)
            runs.setdefault(config, []).append(work_dir)
    return runs


def own_scalars(work_dir):
    """The run's own records, read straight from its scalars.json."""
    from glob import glob

    (path,) = glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    records = [json.loads(line) for line in open(path)]
    return [r for r in records if 'lr' in r], [r for r in records if 'lr' not in r]


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_numbers_are_the_runs_own_mean_and_std_over_seeds(seed_runs, tmp_path):
    out_dir = str(tmp_path / 'compare')
    dirs = [d for config in CONFIGS for d in seed_runs[config]]
    compare_runs.main([*dirs, '--out-dir', out_dir, '--redundancy', '--num-images', '4'])
    comparison = json.load(open(osp.join(out_dir, 'compare.json')))
    groups = {g['name']: g for g in comparison['groups']}
    assert sorted(groups) == sorted(CONFIGS)  # two groups, split by config, not by seed
    assert 'model.type' in comparison['differing_keys']
    for config in CONFIGS:
        group = groups[config]
        assert group['seeds'] == [0, 1] and group['num_seeds'] == 2
        assert group['work_dirs'] == seed_runs[config]
        train, val = zip(*(own_scalars(d) for d in seed_runs[config]))
        top1 = [[r['accuracy/top1'] for r in v] for v in val]
        assert len(top1[0]) == 2  # two validations per run
        final = group['metrics']['accuracy/top1']['final']
        assert final['values'] == [t[-1] for t in top1]
        assert final['mean'] == pytest.approx(statistics.mean(final['values']))
        assert final['std'] == pytest.approx(statistics.stdev(final['values']))
        assert group['metrics']['accuracy/top1']['best']['values'] == [max(t) for t in top1]
        assert group['time_per_iter']['values'] == [
            statistics.median(r['time'] for r in t) for t in train
        ]
        for name, stat in group['losses'].items():
            assert stat['values'] == [t[-1][name] for t in train], name
        assert group['memory'] is None  # mmengine logs memory on CUDA only
        reports = comparison['redundancy'][config]
        assert [r['checkpoint'] for r in reports] == [
            osp.join(d, 'epoch_2.pth') for d in seed_runs[config]
        ]
        assert all(len(r['patch_similarity']) == 4 for r in reports)
    assert {'loss_cls', 'loss_patch_cos', 'loss_weight_cond'} <= set(
        groups['vit_tiny_shapes_diverse']['losses']
    )
    markdown = open(osp.join(out_dir, 'compare.md')).read()
    final = groups['vit_tiny_shapes']['metrics']['accuracy/top1']['final']
    assert f'{final["mean"]:.2f} ± {final["std"]:.2f} (2)' in markdown
    assert open(osp.join(out_dir, 'compare.png'), 'rb').read(8) == b'\x89PNG\r\n\x1a\n'


def test_refuses_work_dirs_without_scalars_naming_them(tmp_path):
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'test_only' / '20260101_000000').mkdir(parents=True)
    with pytest.raises(SystemExit) as error:
        compare_runs.main(
            [
                str(tmp_path / 'empty'),
                str(tmp_path / 'test_only'),
                '--out-dir',
                str(tmp_path / 'out'),
            ]
        )
    message = str(error.value)
    assert 'refusing' in message
    assert f'{tmp_path / "empty"}: no scalars' in message
    assert f'{tmp_path / "test_only"}: no scalars' in message
    assert not (tmp_path / 'out').exists()


def test_refuses_a_seed_twice_in_one_group(tmp_path):
    dirs = []
    for name in ('seg_from_baseline', 'seg_from_diverse'):
        vis = tmp_path / name / '20260101_000000' / 'vis_data'
        vis.mkdir(parents=True)
        (vis / 'scalars.json').write_text(json.dumps(dict(lr=1.0, loss=1.0, step=1)) + '\n')
        (vis / 'config.py').write_text(
            f'randomness = dict(seed=0)\nmodel = dict(backbone=dict(init_cfg=dict('
            f"checkpoint='{name}.pth')))\n"
        )
        dirs.append(str(tmp_path / name))
    ignore = ['--ignore', 'model.backbone.init_cfg.checkpoint']
    with pytest.raises(SystemExit, match='not seeds of one experiment') as error:
        compare_runs.main([*dirs, *ignore, '--out-dir', str(tmp_path / 'out')])
    assert f'seed 0 in {dirs[0]}, {dirs[1]}' in str(error.value)
    # without --ignore they are two experiments of one seed each
    comparison = compare_runs.main([*dirs, '--out-dir', str(tmp_path / 'out')])
    assert [g['num_seeds'] for g in comparison['groups']] == [1, 1]
