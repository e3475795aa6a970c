"""The paper-scale configs' own data pipelines refuse bad files, naming them.

The datasets are built from the configs as they are (only ``data_root``
points at a small synthetic set in the same layout), so these fail if a
config goes back to mmcv's / mmseg's stock loaders.
"""

import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from PIL import Image

from mmdiverse.datasets import BadDataError, make_classification_set, make_segmentation_set
from tests.helpers.tools import REPO_ROOT


def _dataset(config, loader, data_root):
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', config))
    init_default_scope(cfg.default_scope)
    from mmengine.registry import DATASETS

    dataset_cfg = cfg[loader].dataset
    dataset_cfg.data_root = data_root
    return DATASETS.build(dataset_cfg)


def _truncate(path):
    data = open(path, 'rb').read()
    with open(path, 'wb') as f:
        f.write(data[: len(data) // 2])


@pytest.mark.parametrize('config', ['pretrain/deit_s12_diverse.py', 'pretrain/swin_l_diverse.py'])
@pytest.mark.parametrize('loader', ['train_dataloader', 'val_dataloader'])
def test_pretraining_refuses_a_truncated_image(tmp_path, config, loader):
    root = make_classification_set(
        str(tmp_path), num_classes=2, train_per_class=2, val_per_class=2, img_size=32
    )
    dataset = _dataset(config, loader, root)
    assert dataset[1]['inputs'].shape[0] == 3  # a whole image goes through
    bad = dataset.get_data_info(0)['img_path']
    _truncate(bad)
    with pytest.raises(BadDataError, match=osp.basename(bad)):
        dataset[0]


@pytest.mark.parametrize(
    'config', ['seg/upernet_swin_l_ade20k.py', 'seg/upernet_deit_s12_ade20k.py']
)
@pytest.mark.parametrize('loader', ['train_dataloader', 'val_dataloader'])
def test_segmentation_refuses_labels_outside_the_classes_and_truncated_files(
    tmp_path, config, loader
):
    root = make_segmentation_set(str(tmp_path), num_classes=4, num_train=3, num_val=3, img_size=32)
    dataset = _dataset(config, loader, root)
    assert 'data_samples' in dataset[0]
    # ADE20K has 150 classes: 151 becomes 150 after reduce_zero_label, one too many.
    label_path = dataset.get_data_info(1)['seg_map_path']
    labels = np.array(Image.open(label_path))
    labels[0, 0] = 151
    Image.fromarray(labels).save(label_path)
    with pytest.raises(BadDataError, match=rf'{osp.basename(label_path)} holds values \[150\]'):
        dataset[1]
    image_path = dataset.get_data_info(2)['img_path']
    _truncate(image_path)
    with pytest.raises(BadDataError, match=osp.basename(image_path)):
        dataset[2]


@pytest.mark.parametrize('config', ['seg/upernet_swin_l_ade20k.py'])
def test_the_tta_pipeline_runs_its_twelve_views_and_refuses_bad_labels(tmp_path, config):
    """--tta (the fork's --aug-test: 6 scales x 2 flips) loads labels strictly too."""
    root = make_segmentation_set(str(tmp_path), num_classes=4, num_train=2, num_val=2, img_size=32)
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', config))
    init_default_scope(cfg.default_scope)
    from mmengine.registry import DATASETS

    dataset_cfg = cfg.test_dataloader.dataset
    dataset_cfg.update(data_root=root, pipeline=cfg.tta_pipeline)
    dataset = DATASETS.build(dataset_cfg)
    views = dataset[0]
    assert len(views['inputs']) == 12
    assert sorted({tuple(x.shape[1:]) for x in views['inputs']})[-1] == (896, 896)  # 1.75 x 512
    label_path = dataset.get_data_info(1)['seg_map_path']
    labels = np.array(Image.open(label_path))
    labels[0, 0] = 151
    Image.fromarray(labels).save(label_path)
    with pytest.raises(BadDataError, match=osp.basename(label_path)):
        dataset[1]
