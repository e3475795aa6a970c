"""The demo configs (configs/demo) with the stock tools and unusual settings:
mmpretrain's own tools/train.py, a one-epoch schedule, and --tta on the
segmentation config."""

import json
import os.path as osp

import pytest
import torch

from tests.helpers.tools import REPO_ROOT, data_root_options, run_tool

CLS_CONFIG = 'configs/demo/vit_tiny_shapes.py'
SEG_CONFIG = 'configs/demo/upernet_vit_tiny_shapes.py'


def stock_tool(package, name):
    """The path of ``tools/<name>`` as the ``package`` wheel ships it (``.mim``)."""
    module = __import__(package)
    path = osp.join(osp.dirname(module.__file__), '.mim', 'tools', name)
    if not osp.isfile(path):
        pytest.skip(f'{package} ships no tools/{name}')
    return path


@pytest.mark.slow
def test_stock_mmpretrain_train_runs_demo_config(shapes_cls_root, tmp_path):
    # mmpretrain's tools/train.py defaults persistent_workers=True; with the
    # demo's num_workers=0 the DataLoader refused it until the config said False.
    work_dir = str(tmp_path / 'stock')
    run_tool(
        stock_tool('mmpretrain', 'train.py'),
        CLS_CONFIG,
        '--work-dir',
        work_dir,
        '--cfg-options',
        *data_root_options(shapes_cls_root),
        'train_cfg.max_epochs=2',
        timeout=600,
    )
    assert osp.isfile(osp.join(work_dir, 'epoch_2.pth'))


@pytest.mark.slow
def test_demo_schedule_valid_for_one_epoch(shapes_cls_root, tmp_path):
    # The cosine began after the one-epoch warm-up: max_epochs=1 gave it no
    # length and mmengine raised "end should be larger than begin". (The
    # diverse demo config inherits this schedule.)
    work_dir = str(tmp_path / 'one_epoch')
    result = run_tool(
        'tools/train.py',
        CLS_CONFIG,
        '--work-dir',
        work_dir,
        '--cfg-options',
        *data_root_options(shapes_cls_root),
        'train_cfg.max_epochs=1',
        'default_hooks.logger.interval=1',
        timeout=600,
    )
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))
    assert 'Epoch(train) [1][1/1]' in result.stdout + result.stderr


@pytest.mark.slow
def test_tta_on_demo_seg_config(tmp_path):
    # --tta needs tta_pipeline; the demo segmentation config had none.
    from mmengine.config import Config

    from mmdiverse.apis import build_model
    from mmdiverse.datasets import make_segmentation_set

    seg_root = make_segmentation_set(
        str(tmp_path / 'seg'), num_classes=4, num_train=2, num_val=2, img_size=64
    )
    cfg = Config.fromfile(osp.join(REPO_ROOT, SEG_CONFIG))
    model = build_model(cfg)  # random weights: the test checks the TTA path, not accuracy
    checkpoint = str(tmp_path / 'upernet.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), checkpoint)
    work_dir = str(tmp_path / 'tta')
    result = run_tool(
        'tools/test.py',
        SEG_CONFIG,
        checkpoint,
        '--tta',
        '--work-dir',
        work_dir,
        '--cfg-options',
        *data_root_options(seg_root),
        timeout=600,
    )
    metrics = json.load(open(osp.join(work_dir, 'test_metrics.json')))
    assert 0 <= metrics['mIoU'] <= 100
    assert 'mIoU' in result.stdout + result.stderr
