import numpy as np
import pytest
from PIL import Image

import mmdiverse  # noqa: F401
from mmdiverse.datasets import BadDataError, CheckedLoadImageFromFile, CheckSegLabels


def _jpeg(path, size=48):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(path, quality=90)
    return path


def test_reads_a_good_image_as_bgr_like_mmcv(tmp_path):
    path = str(tmp_path / 'ok.png')
    Image.fromarray(np.full((4, 5, 3), (10, 20, 30), np.uint8)).save(path)
    results = CheckedLoadImageFromFile()(dict(img_path=path))
    assert results['img'].shape == (4, 5, 3)
    assert results['img'][0, 0].tolist() == [30, 20, 10]


def test_truncated_jpeg_fails_naming_the_file(tmp_path):
    path = _jpeg(str(tmp_path / 'cut.jpg'))
    data = open(path, 'rb').read()
    open(path, 'wb').write(data[:len(data) // 2])
    with pytest.raises(BadDataError, match=r'cut\.jpg'):
        CheckedLoadImageFromFile()(dict(img_path=path))


def test_unreadable_file_fails_naming_the_file(tmp_path):
    path = tmp_path / 'not_an_image.png'
    path.write_bytes(b'this is not a png')
    with pytest.raises(BadDataError, match='not_an_image.png'):
        CheckedLoadImageFromFile()(dict(img_path=str(path)))


def test_label_values_outside_the_class_range_name_the_file():
    check = CheckSegLabels(num_classes=4)
    ok = dict(gt_seg_map=np.array([[0, 3], [255, 1]], np.uint8), seg_map_path='a.png')
    assert check(ok) is ok
    bad = dict(gt_seg_map=np.array([[0, 7], [255, 9]], np.uint8), seg_map_path='b.png')
    with pytest.raises(BadDataError, match=r'b\.png holds values \[7, 9\]'):
        check(bad)


def test_registered_for_mmpretrain_and_mmseg_pipelines():
    from mmpretrain.registry import TRANSFORMS as PRETRAIN_TRANSFORMS
    from mmseg.registry import TRANSFORMS as SEG_TRANSFORMS
    assert isinstance(PRETRAIN_TRANSFORMS.build(dict(type='CheckedLoadImageFromFile')),
                      CheckedLoadImageFromFile)
    assert isinstance(SEG_TRANSFORMS.build(dict(type='CheckSegLabels', num_classes=3)),
                      CheckSegLabels)
