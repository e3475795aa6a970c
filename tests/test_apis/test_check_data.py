"""--check-data decodes every file of the run's splits and reports all bad ones together."""

import os
import os.path as osp

import pytest
from mmengine.config import Config
from PIL import Image

from mmdiverse.apis import check_data
from mmdiverse.apis.check_data import check_sample, data_files
from mmdiverse.datasets import BadDataError, make_segmentation_set
from tests.helpers.tools import REPO_ROOT


def _seg_config(root):
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs/demo/upernet_vit_tiny_shapes.py'))
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = root
    return cfg


@pytest.fixture
def seg_root(tmp_path):
    return make_segmentation_set(str(tmp_path / 'seg'), num_classes=4, num_train=4, num_val=2)


def _files(root, split, kind):
    folder = osp.join(root, kind, split)
    return sorted(osp.join(folder, name) for name in os.listdir(folder))


def test_every_bad_file_of_train_and_val_is_listed_in_one_report(seg_root):
    empty_image = _files(seg_root, 'training', 'images')[0]
    open(empty_image, 'wb').close()  # zero bytes
    cut_label = _files(seg_root, 'training', 'annotations')[1]
    data = open(cut_label, 'rb').read()
    open(cut_label, 'wb').write(data[: len(data) // 2])  # truncated PNG
    small_label = _files(seg_root, 'validation', 'annotations')[0]
    Image.open(small_label).resize((32, 32)).save(small_label)  # 32x32 for a 64x64 image
    with pytest.raises(BadDataError) as error:
        check_data(_seg_config(seg_root), ('train', 'val'), nproc=2)
    report = str(error.value)
    assert report.startswith('--check-data: 3 problem(s) in the 6 samples of train, val:')
    assert f'cannot read image {empty_image}' in report
    assert f'cannot read image {cut_label}: truncated PNG' in report
    image = small_label.replace('annotations', 'images').replace('.png', '.jpg')
    assert (
        f'label map {small_label} is 32x32 (width x height) but its image {image} is 64x64'
        in report
    )


def test_good_data_passes_and_counts_each_file_once(seg_root):
    cfg = _seg_config(seg_root)
    assert len(data_files(cfg, ('train', 'val', 'test'))) == 6  # test reuses val
    assert check_data(cfg, ('train', 'val'), nproc=1)['samples'] == 6


def test_classification_samples_have_no_label_map(shapes_cls_root, tmp_path):
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs/demo/vit_tiny_shapes.py'))
    cfg.train_dataloader.dataset.data_root = shapes_cls_root
    samples = data_files(cfg, ('train',))
    assert len(samples) == 32 and all(label is None for _, label in samples)
    missing = str(tmp_path / 'missing.png')
    assert check_sample((missing, None)) == [
        f'cannot read {missing}: FileNotFoundError: [Errno 2] No such file or directory: '
        f"'{missing}'"
    ]
