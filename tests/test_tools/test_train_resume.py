import os.path as osp

import pytest
import torch

from mmdiverse.checkpoint import safe_load
from tests.helpers.tools import data_root_options, run_tool

CONFIG = 'configs/demo/vit_tiny_shapes.py'
ITERS_PER_EPOCH = 4  # 32 images, batch size 8


def _train(work_dir, data_root, max_epochs, *extra, check=True):
    return run_tool(
        'tools/train.py',
        CONFIG,
        '--work-dir',
        work_dir,
        *extra,
        '--cfg-options',
        *data_root_options(data_root),
        'train_dataloader.batch_size=8',
        f'train_cfg.max_epochs={max_epochs}',
        'default_hooks.logger.interval=1',
        check=check,
    )


@pytest.mark.slow
def test_resume_restores_iteration_optimizer_scheduler_and_weights(tmp_path, shapes_cls_root):
    work_dir = str(tmp_path / 'run')
    _train(work_dir, shapes_cls_root, 2)
    first = safe_load(osp.join(work_dir, 'epoch_2.pth'))
    assert first['meta']['iter'] == 2 * ITERS_PER_EPOCH

    # Starting from scratch over it is refused (its checkpoints would be overwritten).
    refused = _train(work_dir, shapes_cls_root, 3, check=False)
    assert refused.returncode != 0
    assert 'holds the checkpoints of a previous run' in refused.stderr
    assert safe_load(osp.join(work_dir, 'epoch_2.pth'))['meta']['iter'] == 2 * ITERS_PER_EPOCH

    # --resume with no value: the latest checkpoint of the work directory.
    result = _train(work_dir, shapes_cls_root, 3, '--resume')
    assert 'resumed epoch: 2, iter: 8' in result.stdout + result.stderr
    resumed = safe_load(osp.join(work_dir, 'epoch_3.pth'))
    assert resumed['meta']['epoch'] == 3
    assert resumed['meta']['iter'] == 3 * ITERS_PER_EPOCH
    # AdamW counts its steps: a restart from scratch would be at 4, not 12.
    steps = {float(s['step']) for s in resumed['optimizer']['state'].values()}
    assert steps == {3.0 * ITERS_PER_EPOCH}
    # The (iteration-based) warm-up scheduler counted on from 8 instead of restarting.
    assert resumed['param_schedulers'][0]['_global_step'] == 3 * ITERS_PER_EPOCH

    # --resume PATH, into another work directory, reaches the same weights
    # (same seed, deterministic mode).
    other = str(tmp_path / 'other')
    result = _train(other, shapes_cls_root, 3, '--resume', osp.join(work_dir, 'epoch_2.pth'))
    assert 'resumed epoch: 2, iter: 8' in result.stdout + result.stderr
    explicit = safe_load(osp.join(other, 'epoch_3.pth'))['state_dict']
    assert explicit.keys() == resumed['state_dict'].keys()
    for key, value in resumed['state_dict'].items():
        torch.testing.assert_close(explicit[key], value, rtol=1e-5, atol=1e-6, msg=key)
