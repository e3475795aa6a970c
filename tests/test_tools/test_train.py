"""tools/train.py refuses bad configs before the first iteration."""

import os.path as osp

import pytest

from tests.helpers.tools import data_root_options, run_tool


@pytest.mark.slow
def test_a_head_that_does_not_count_the_classes_fails_before_iteration_1(tmp_path, shapes_cls_root):
    work_dir = str(tmp_path / 'run')
    result = run_tool(
        'tools/train.py',
        'configs/demo/vit_tiny_shapes.py',
        '--work-dir',
        work_dir,
        '--cfg-options',
        *data_root_options(shapes_cls_root),
        'model.head.num_classes=3',
        'train_cfg.max_epochs=1',
        check=False,
    )
    assert result.returncode != 0
    assert (
        'ClassMismatchError: model.head.num_classes=3 but the labels of '
        'train_dataloader.dataset' in result.stderr
    )
    assert 'Iter(train)' not in result.stdout + result.stderr
    assert not osp.exists(osp.join(work_dir, 'epoch_1.pth'))
