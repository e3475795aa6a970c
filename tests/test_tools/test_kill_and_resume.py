"""A run killed with SIGKILL and resumed reaches the uninterrupted run's weights:
epoch-based classification (killed at a random moment) and iteration-based
segmentation with its random transforms on (killed after a checkpoint)."""

import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest
import torch

from mmdiverse.checkpoint import safe_load
from tests.helpers.tools import REPO_ROOT, data_root_options, run_tool

# All five regularizers on: the resumed run must also restore the power-iteration
# vectors of the weight term, the random streams of PatchCutMix and the data order.
CONFIG = 'configs/demo/vit_tiny_shapes_diverse.py'
EPOCHS = 3


@pytest.fixture(scope='module')
def larger_shapes_root(tmp_path_factory):
    """256 training images: 32 iterations per epoch at batch size 8."""
    from mmdiverse.datasets import make_classification_set

    return make_classification_set(
        str(tmp_path_factory.mktemp('shapes')),
        num_classes=4,
        train_per_class=64,
        val_per_class=2,
        img_size=32,
    )


def _args(work_dir, data_root, *extra, config=CONFIG):
    return [
        'tools/train.py',
        config,
        '--work-dir',
        work_dir,
        *extra,
        '--cfg-options',
        *data_root_options(data_root),
        'train_dataloader.batch_size=8',
        f'train_cfg.max_epochs={EPOCHS}',
    ]


@pytest.fixture(scope='module')
def reference_weights(tmp_path_factory, larger_shapes_root):
    """Final weights of the uninterrupted run."""
    reference = str(tmp_path_factory.mktemp('reference'))
    run_tool(*_args(reference, larger_shapes_root))
    return safe_load(osp.join(reference, f'epoch_{EPOCHS}.pth'))['state_dict']


def _kill_inside_epoch_2_and_resume(work_dir, data_root, config=CONFIG):
    """Train, SIGKILL the process inside epoch 2, resume; the final weights."""
    process = subprocess.Popen(
        [sys.executable, *_args(work_dir, data_root, config=config)],
        cwd=REPO_ROOT,
        env=dict(os.environ, PYTHONPATH=REPO_ROOT),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    while not osp.exists(osp.join(work_dir, 'epoch_1.pth')) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # somewhere inside epoch 2
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    assert not osp.exists(osp.join(work_dir, f'epoch_{EPOCHS}.pth')), 'finished before kill'

    result = run_tool(*_args(work_dir, data_root, '--resume', config=config))
    assert 'resumed epoch: ' in result.stdout + result.stderr
    return safe_load(osp.join(work_dir, f'epoch_{EPOCHS}.pth'))['state_dict']


@pytest.mark.slow
def test_sigkill_then_resume_matches_uninterrupted_run(
    tmp_path, larger_shapes_root, reference_weights
):
    expected = reference_weights
    resumed = _kill_inside_epoch_2_and_resume(str(tmp_path / 'run'), larger_shapes_root)
    assert resumed.keys() == expected.keys()
    assert any('weight_cond.power_vectors' in key for key in expected), (
        'the weight term keeps its power-iteration vectors in the state dict'
    )
    for key, value in expected.items():
        torch.testing.assert_close(resumed[key], value, rtol=1e-4, atol=1e-5, msg=key)


@pytest.mark.slow
def test_without_random_state_hook_the_resumed_run_diverges(
    tmp_path, larger_shapes_root, reference_weights
):
    """Negative control: mmengine alone re-seeds on resume, so the augmentation
    and drop-path streams restart and the weights differ; the test above
    passes because of RandomStateHook."""
    config = tmp_path / 'no_random_state_hook.py'
    config.write_text(
        f'_base_ = [{osp.join(REPO_ROOT, CONFIG)!r}]\n'
        "custom_hooks = [dict(type='NonFiniteLossHook')]\n"
    )
    resumed = _kill_inside_epoch_2_and_resume(
        str(tmp_path / 'run'), larger_shapes_root, config=str(config)
    )
    assert not all(
        torch.allclose(resumed[key], value, rtol=1e-4, atol=1e-5)
        for key, value in reference_weights.items()
    )


# Iteration-based segmentation: RandomResize, RandomCrop and RandomFlip draw from
# the random streams, and mmengine's resume loads the skipped batches again.
SEG_CONFIG = 'configs/demo/upernet_vit_tiny_shapes.py'
SEG_ITERS = 6


@pytest.fixture(scope='module')
def seg_root(tmp_path_factory):
    from mmdiverse.datasets import make_segmentation_set

    return make_segmentation_set(
        str(tmp_path_factory.mktemp('shapes_seg')), num_classes=4, num_train=16, num_val=2
    )


def _seg_args(work_dir, data_root, *extra, config=SEG_CONFIG):
    return [
        'tools/train.py',
        config,
        '--work-dir',
        work_dir,
        '--no-validate',
        *extra,
        '--cfg-options',
        *data_root_options(data_root),
        'model.backbone.init_cfg=None',
        'train_dataloader.batch_size=4',
        f'train_cfg.max_iters={SEG_ITERS}',
        'default_hooks.checkpoint.interval=2',
    ]


def _seg_final_weights(work_dir):
    return safe_load(osp.join(work_dir, f'iter_{SEG_ITERS}.pth'))['state_dict']


@pytest.mark.slow
def test_iteration_based_sigkill_then_resume_matches_uninterrupted_run(tmp_path, seg_root):
    reference = str(tmp_path / 'reference')
    run_tool(*_seg_args(reference, seg_root))
    expected = _seg_final_weights(reference)

    # The same config, plus a hook that SIGKILLs the process inside iteration 4
    # (after iter_2.pth, before iter_4.pth).
    killed = tmp_path / 'killed.py'
    killed.write_text(
        f'_base_ = [{osp.join(REPO_ROOT, SEG_CONFIG)!r}]\n'
        "custom_imports = dict(imports=['mmdiverse', 'mmpretrain.models', "
        "'tests.test_tools.sigkill_hook'], allow_failed_imports=False)\n"
        "custom_hooks = [dict(type='NonFiniteLossHook'), dict(type='RandomStateHook'), "
        "dict(type='SigkillAtIterHook', at_iter=3)]\n"
    )
    work_dir = str(tmp_path / 'run')
    result = run_tool(*_seg_args(work_dir, seg_root, config=str(killed)), check=False)
    assert result.returncode == -signal.SIGKILL
    assert sorted(os.listdir(work_dir)).count('iter_2.pth') == 1
    assert not osp.exists(osp.join(work_dir, 'iter_4.pth'))

    result = run_tool(*_seg_args(work_dir, seg_root, '--resume'))
    assert 'resumed epoch: 0, iter: 2' in result.stdout + result.stderr
    resumed = _seg_final_weights(work_dir)
    assert resumed.keys() == expected.keys()
    for key, value in expected.items():
        torch.testing.assert_close(resumed[key], value, rtol=1e-4, atol=1e-5, msg=key)


# Kills during a validation, then after the new best that validation saved, with save_best,
# 2 persistent workers and random transforms: each loop type reaches the uninterrupted run's
# weights, validation rows and best checkpoint.
_LOOPS = dict(
    epoch_cls=dict(
        config=CONFIG,
        metric='accuracy/top1',
        final='epoch_2.pth',
        val_after_iter=4,
        then_iter=5,  # 4 iterations per epoch
        hooks='_base_.mmdiverse_hooks',
        options=['train_dataloader.batch_size=8', 'train_cfg.max_epochs=2'],
    ),
    iter_seg=dict(
        config=SEG_CONFIG,
        metric='mIoU',
        final='iter_4.pth',
        val_after_iter=2,
        then_iter=3,
        hooks='_base_.custom_hooks',
        options=[
            'model.backbone.init_cfg=None',
            'train_dataloader.batch_size=4',
            'train_cfg.max_iters=4',
            'train_cfg.val_interval=2',
            'default_hooks.checkpoint.interval=2',
        ],
    ),
)


def _loop_args(loop, work_dir, data_root, *extra, config=None):
    settings = _LOOPS[loop]
    return [
        'tools/train.py',
        config or settings['config'],
        '--work-dir',
        work_dir,
        *extra,
        '--cfg-options',
        *data_root_options(data_root),
        *settings['options'],
        f'default_hooks.checkpoint.save_best={settings["metric"]}',
        'train_dataloader.num_workers=2',
        'train_dataloader.persistent_workers=True',
    ]


def _killing_config(tmp_path, loop, **kill):
    """The loop's config plus SigkillAtIterHook(**kill)."""
    path = tmp_path / f'kill_{"_".join(map(str, kill.values()))}.py'
    path.write_text(
        f'_base_ = [{osp.join(REPO_ROOT, _LOOPS[loop]["config"])!r}]\n'
        "custom_imports = dict(imports=_base_.custom_imports['imports'] + "
        "['tests.test_tools.sigkill_hook'], allow_failed_imports=False)\n"
        f"custom_hooks = {_LOOPS[loop]['hooks']} + [dict(type='SigkillAtIterHook', **{kill!r})]\n"
    )
    return str(path)


def _val_rows(work_dir, metric):
    """(step, value) of every validation logged, over the runs in work_dir, in order."""
    import json

    rows = []
    for run in sorted(os.listdir(work_dir)):
        scalars = osp.join(work_dir, run, 'vis_data', 'scalars.json')
        if osp.isfile(scalars):
            with open(scalars) as file:
                rows += [
                    (row['step'], row[metric]) for row in map(json.loads, file) if metric in row
                ]
    return rows


@pytest.mark.slow
@pytest.mark.parametrize('loop', sorted(_LOOPS))
def test_kills_during_validation_and_after_a_new_best_resume_exactly(
    tmp_path, loop, shapes_cls_root, seg_root
):
    settings = _LOOPS[loop]
    loop_data_root = shapes_cls_root if loop == 'epoch_cls' else seg_root
    reference = str(tmp_path / 'reference')
    run_tool(*_loop_args(loop, reference, loop_data_root))

    work_dir = str(tmp_path / 'run')
    for kill, extra in (
        (dict(at_val_after_iter=settings['val_after_iter']), ()),
        (dict(at_iter=settings['then_iter']), ('--resume',)),
    ):
        config = _killing_config(tmp_path, loop, **kill)
        killed = run_tool(
            *_loop_args(loop, work_dir, loop_data_root, *extra, config=config), check=False
        )
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert len(_val_rows(work_dir, settings['metric'])) == 1  # the second run's, then killed
    run_tool(*_loop_args(loop, work_dir, loop_data_root, '--resume'))

    assert _val_rows(work_dir, settings['metric']) == _val_rows(reference, settings['metric'])
    assert len(_val_rows(reference, settings['metric'])) == 2

    def best(directory):
        return sorted(
            name
            for name in os.listdir(directory)
            if name.startswith('best_') and name.endswith('.pth')
        )

    assert best(work_dir) == best(reference) and len(best(reference)) == 1
    assert not osp.exists(osp.join(work_dir, 'validation_in_progress.json'))
    expected = safe_load(osp.join(reference, settings['final']))['state_dict']
    resumed = safe_load(osp.join(work_dir, settings['final']))['state_dict']
    for key, value in expected.items():
        torch.testing.assert_close(resumed[key], value, rtol=0, atol=0, msg=key)
