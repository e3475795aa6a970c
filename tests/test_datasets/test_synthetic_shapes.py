import os.path as osp

import numpy as np
import pytest
from PIL import Image

from mmdiverse.datasets import make_classification_set, make_segmentation_set


def test_classification_layout_and_labels(tmp_path):
    root = make_classification_set(
        str(tmp_path), num_classes=3, train_per_class=2, val_per_class=1, img_size=24
    )
    lines = open(osp.join(root, 'meta', 'train.txt')).read().split('\n')[:-1]
    assert len(lines) == 6
    relative, label = lines[-1].split()
    assert relative.startswith('triangle/') and label == '2'
    image = np.asarray(Image.open(osp.join(root, 'train', relative)))
    assert image.shape == (24, 24, 3) and image.std() > 0


def test_same_seed_same_files(tmp_path):
    a = make_segmentation_set(str(tmp_path / 'a'), num_train=2, num_val=1, img_size=32)
    b = make_segmentation_set(str(tmp_path / 'b'), num_train=2, num_val=1, img_size=32)
    name = 'annotations/training/shapes_training_00001.png'
    np.testing.assert_array_equal(
        np.asarray(Image.open(osp.join(a, name))), np.asarray(Image.open(osp.join(b, name)))
    )


def test_segmentation_labels_follow_ade20k_convention(tmp_path):
    root = make_segmentation_set(
        str(tmp_path), num_classes=4, num_train=6, num_val=1, img_size=32, seed=3
    )
    values = set()
    for index in range(6):
        label = np.asarray(
            Image.open(
                osp.join(root, 'annotations', 'training', f'shapes_training_{index:05d}.png')
            )
        )
        values |= set(np.unique(label).tolist())
    assert 0 in values and values <= {0, 1, 2, 3, 4} and len(values) > 2


def test_rejects_too_many_classes(tmp_path):
    with pytest.raises(ValueError, match='num_classes'):
        make_classification_set(str(tmp_path), num_classes=99)
