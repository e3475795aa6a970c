"""tools/train.py --check-data stops before iteration 1 with every bad file listed."""

import os
import os.path as osp
import shutil

import pytest

from tests.helpers.tools import data_root_options, run_tool


@pytest.mark.slow
def test_check_data_lists_the_bad_files_before_training(tmp_path, shapes_cls_root):
    root = str(tmp_path / 'data')
    # A copy of the shared set with two bad images (the fixture stays intact).
    shutil.copytree(shapes_cls_root, root)
    folder = osp.join(root, 'train', sorted(os.listdir(osp.join(root, 'train')))[0])
    empty, cut = sorted(osp.join(folder, name) for name in os.listdir(folder))[:2]
    open(empty, 'wb').close()
    data = open(cut, 'rb').read()
    open(cut, 'wb').write(data[: len(data) // 2])
    work_dir = str(tmp_path / 'run')
    result = run_tool(
        'tools/train.py',
        'configs/demo/vit_tiny_shapes.py',
        '--work-dir',
        work_dir,
        '--check-data',
        '--cfg-options',
        *data_root_options(root),
        'train_cfg.max_epochs=1',
        check=False,
    )
    assert result.returncode != 0
    assert '--check-data: 2 problem(s) in the 40 samples of train, val' in result.stderr
    assert f'cannot read image {empty}' in result.stderr
    assert f'cannot read image {cut}: truncated PNG' in result.stderr
    assert 'Iter(train)' not in result.stdout + result.stderr
    assert not osp.exists(osp.join(work_dir, 'epoch_1.pth'))
