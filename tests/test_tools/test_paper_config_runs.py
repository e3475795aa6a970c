"""A paper-scale pretraining config, as it is, runs through tools/train.py.

Full-size DeiT-S with the DeiT recipe (RandAugment, Mixup + PatchCutMix,
repeated augmentation, EMA-free), the five regularizers, the strict loaders and
the mmdiverse hooks; only the data (8 synthetic images), the batch size and the
epoch count (the 5 warm-up epochs + 1) are changed.
"""

import os.path as osp

import pytest

from mmdiverse.checkpoint import safe_load
from tests.helpers.tiny_classifier import LOSS_KEYS as TERM_LOSS_KEYS
from tests.helpers.tools import data_root_options, run_tool

LOSS_KEYS = (*TERM_LOSS_KEYS, 'patch_cos_sim')


@pytest.mark.slow
def test_deit_s12_diverse_trains_validates_and_exports(tmp_path):
    from mmdiverse.datasets import make_classification_set

    root = make_classification_set(
        str(tmp_path / 'data'), num_classes=2, train_per_class=4, val_per_class=2, img_size=64
    )
    work_dir = str(tmp_path / 'run')
    result = run_tool(
        'tools/train.py',
        'configs/pretrain/deit_s12_diverse.py',
        '--work-dir',
        work_dir,
        '--cfg-options',
        *data_root_options(root),
        'train_dataloader.batch_size=4',
        'train_dataloader.num_workers=0',
        'val_dataloader.batch_size=4',
        'val_dataloader.num_workers=0',
        'train_cfg.max_epochs=6',
        'train_cfg.val_interval=6',
        'default_hooks.logger.interval=1',
    )
    log = result.stdout + result.stderr
    for key in LOSS_KEYS:
        assert f'{key}: ' in log, key
    assert 'accuracy/top1: ' in log
    checkpoint = safe_load(osp.join(work_dir, 'epoch_6.pth'))
    assert 'random_state' in checkpoint  # RandomStateHook is on
    assert checkpoint['meta']['mmdiverse']['regularizers']
    export = safe_load(osp.join(work_dir, 'backbone_export.pth'))
    assert any(key.startswith('backbone.layers.11.') for key in export['state_dict'])
