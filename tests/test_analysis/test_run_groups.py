"""mmdiverse.analysis.run_groups: runs that differ only in their seed form a group."""

from mmdiverse.analysis.run_groups import differing_keys, flatten, group_runs
from mmdiverse.analysis.run_scalars import RunScalars


def run(tmp_path, name, seed, lr=1e-3, checkpoint='a.pth', **config):
    work_dir = tmp_path / f'{name}_seed{seed}'
    work_dir.mkdir(exist_ok=True)
    (work_dir / f'{name}.py').write_text('')  # mmengine's copy of the config
    config = dict(
        randomness=dict(seed=seed, deterministic=True),
        work_dir=str(work_dir),
        optim_wrapper=dict(optimizer=dict(lr=lr)),
        model=dict(backbone=dict(init_cfg=dict(checkpoint=checkpoint))),
        **config,
    )
    return RunScalars(str(work_dir), [], [], config, '')


def test_flatten():
    assert flatten(dict(a=dict(b=1, c=[1, 2]), d='x')) == {'a.b': 1, 'a.c': [1, 2], 'd': 'x'}


def test_seeds_group_and_other_differences_split(tmp_path):
    runs = [
        run(tmp_path, 'base', 0),
        run(tmp_path, 'div', 0, lr=2e-3),
        run(tmp_path, 'base', 1),
        run(tmp_path, 'div', 1, lr=2e-3),
    ]
    groups = group_runs(runs)
    assert [g.name for g in groups] == ['base', 'div']
    assert [g.seeds for g in groups] == [[0, 1], [0, 1]]
    assert groups[0].runs == [runs[0], runs[2]]
    assert differing_keys(groups) == ['optim_wrapper.optimizer.lr']


def test_ignored_keys_join_groups(tmp_path):
    runs = [
        run(tmp_path, 'seg', 0, checkpoint='s0.pth'),
        run(tmp_path, 'seg', 1, checkpoint='s1.pth'),
    ]
    assert len(group_runs(runs)) == 2
    (group,) = group_runs(runs, ignore=['model.backbone.init_cfg'])
    assert group.seeds == [0, 1]


def test_names_experiment_name_first_and_unique(tmp_path):
    runs = [
        run(tmp_path, 'seg', 0, checkpoint='b.pth', experiment_name='transfer_baseline'),
        run(tmp_path, 'seg', 1, checkpoint='d.pth', experiment_name='transfer_diverse'),
        run(tmp_path, 'cls', 0, lr=1.0),
        run(tmp_path, 'cls', 1, lr=2.0),
    ]
    names = [g.name for g in group_runs(runs, ignore=['model.backbone.init_cfg.checkpoint'])]
    assert names == ['transfer_baseline', 'transfer_diverse', 'cls', 'cls#2']


def test_same_name_different_config_is_explained(tmp_path):
    from mmdiverse.analysis.run_groups import same_name_differences

    runs = [
        run(tmp_path, 'cls', 0, lr=1.0),
        run(tmp_path, 'cls', 1, lr=2.0),
        run(tmp_path, 'other', 0, lr=1.0, extra=1),
    ]
    groups = group_runs(runs)
    assert same_name_differences(groups) == {
        'cls#2': dict(first='cls', keys=['optim_wrapper.optimizer.lr'])
    }


def test_repeated_seeds_are_found(tmp_path):
    from mmdiverse.analysis.run_groups import repeated_seeds

    runs = [
        run(tmp_path, 'seg_b', 0, checkpoint='b.pth'),
        run(tmp_path, 'seg_d', 0, checkpoint='d.pth'),
    ]
    (group,) = group_runs(runs, ignore=['model.backbone.init_cfg.checkpoint'])
    assert repeated_seeds([group]) == {group.name: {0: [r.work_dir for r in runs]}}
    assert repeated_seeds(group_runs(runs)) == {}
