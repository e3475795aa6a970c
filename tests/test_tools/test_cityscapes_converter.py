"""tools/dataset_converters/cityscapes.py on a tiny synthetic Cityscapes set.

The data set: ``tests/helpers/cityscapes.py`` (the end-to-end test uses it too).
"""

import os
import os.path as osp

import numpy as np
from PIL import Image

from tests.helpers.cityscapes import make_cityscapes_set
from tests.helpers.tools import run_tool


def id_to_train_id(label_ids):
    """Cityscapes ids -> train ids with cityscapesscripts' own table."""
    from cityscapesscripts.helpers.labels import id2label

    lut = np.full(256, 255, np.uint8)
    for label_id, label in id2label.items():
        if 0 <= label_id < 256:
            lut[label_id] = label.trainId if 0 <= label.trainId < 255 else 255
    return lut[label_ids]


def test_converter_writes_train_ids_and_split_lists(tmp_path):
    root = make_cityscapes_set(str(tmp_path / 'cityscapes'), num_train=3, num_val=2)
    result = run_tool('tools/dataset_converters/cityscapes.py', root, '--nproc', '2')
    assert '3 train, 2 val, 0 test images' in result.stdout
    polygons = sorted(
        osp.join(d, f)
        for d, _, files in os.walk(osp.join(root, 'gtFine'))
        for f in files
        if f.endswith('_gtFine_polygons.json')
    )
    assert len(polygons) == 5
    seen = set()
    for polygon_file in polygons:
        train_ids = np.array(
            Image.open(polygon_file.replace('_polygons.json', '_labelTrainIds.png'))
        )
        label_ids = np.array(Image.open(polygon_file.replace('_polygons.json', '_labelIds.png')))
        np.testing.assert_array_equal(train_ids, id_to_train_id(label_ids))
        seen |= set(np.unique(train_ids).tolist())
    assert {0, 1, 2, 10, 13, 255} <= seen
    with open(osp.join(root, 'train.txt')) as f:
        assert f.read().split() == [f'tubingen/tubingen_{i:06d}_000019' for i in range(3)]
    with open(osp.join(root, 'val.txt')) as f:
        assert f.read().split() == [f'frankfurt/frankfurt_{i:06d}_000019' for i in range(2)]
    with open(osp.join(root, 'test.txt')) as f:
        assert f.read() == ''


def test_mmseg_reads_the_converted_set(tmp_path):
    root = make_cityscapes_set(str(tmp_path / 'cityscapes'), num_train=2, num_val=1)
    run_tool('tools/dataset_converters/cityscapes.py', root, '-o', str(tmp_path / 'lists'))
    assert osp.isfile(tmp_path / 'lists' / 'train.txt')
    from mmengine.registry import init_default_scope
    from mmseg.registry import DATASETS

    init_default_scope('mmseg')
    dataset = DATASETS.build(
        dict(
            type='CityscapesDataset',
            data_root=root,
            data_prefix=dict(img_path='leftImg8bit/train', seg_map_path='gtFine/train'),
            pipeline=[
                dict(type='LoadImageFromFile'),
                dict(type='LoadAnnotations'),
                dict(type='PackSegInputs'),
            ],
        )
    )
    assert len(dataset) == 2
    sample = dataset[0]['data_samples']
    expected = np.array(Image.open(sample.seg_map_path))
    np.testing.assert_array_equal(sample.gt_sem_seg.data.numpy()[0], expected)
    assert sample.seg_map_path.endswith('_gtFine_labelTrainIds.png')


def test_converter_explains_a_wrong_root(tmp_path):
    result = run_tool('tools/dataset_converters/cityscapes.py', str(tmp_path), check=False)
    assert result.returncode != 0
    assert 'gtFine' in result.stderr
