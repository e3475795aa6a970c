import numpy as np
import pytest
from PIL import Image

import mmdiverse  # noqa: F401
from mmdiverse.datasets import (
    BadDataError,
    CheckedLoadAnnotations,
    CheckedLoadImageFromFile,
    CheckSegLabels,
    find_truncation,
)


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


def test_decodes_like_the_stock_loader(tmp_path):
    """Same decoder as mmcv's LoadImageFromFile: a recipe's pixels do not change."""
    from mmcv.transforms import LoadImageFromFile

    path = _jpeg(str(tmp_path / 'ok.jpg'))
    np.testing.assert_array_equal(
        CheckedLoadImageFromFile()(dict(img_path=path))['img'],
        LoadImageFromFile()(dict(img_path=path))['img'],
    )


@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
def test_truncated_jpeg_fails_naming_the_file(tmp_path, backend):
    path = _jpeg(str(tmp_path / 'cut.jpg'))
    data = open(path, 'rb').read()
    open(path, 'wb').write(data[: len(data) // 2])
    # The stock cv2 loader fills the missing rows and carries on.
    from mmcv.transforms import LoadImageFromFile

    assert LoadImageFromFile()(dict(img_path=path))['img'].shape == (48, 48, 3)
    with pytest.raises(BadDataError, match=r'cut\.jpg: truncated JPEG'):
        CheckedLoadImageFromFile(imdecode_backend=backend)(dict(img_path=path))


def test_truncation_check_of_jpeg_and_png(tmp_path):
    jpeg = open(_jpeg(str(tmp_path / 'a.jpg')), 'rb').read()
    assert find_truncation(jpeg) is None
    assert find_truncation(jpeg + b'trailing bytes') is None
    assert 'JPEG' in find_truncation(jpeg[:-2])
    # An EXIF-like thumbnail's end marker before the main scan does not count.
    head, scan = jpeg.split(b'\xff\xda', 1)
    assert 'JPEG' in find_truncation(head + b'\xff\xd9' + b'\xff\xda' + scan[: len(scan) // 2])
    Image.new('L', (3, 3)).save(tmp_path / 'a.png')
    png = (tmp_path / 'a.png').read_bytes()
    assert find_truncation(png) is None
    assert 'PNG' in find_truncation(png[:-12])
    assert find_truncation(b'BM other formats go to the decoder') is None


def test_missing_file_fails_naming_it_unless_ignore_empty(tmp_path):
    path = str(tmp_path / 'missing.jpg')
    with pytest.raises(BadDataError, match=r'missing\.jpg: FileNotFoundError'):
        CheckedLoadImageFromFile()(dict(img_path=path))
    assert CheckedLoadImageFromFile(ignore_empty=True)(dict(img_path=path)) is None


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


def _label_png(path, values):
    Image.fromarray(np.asarray(values, np.uint8)).save(path)
    return str(path)


def test_checked_annotations_apply_reduce_zero_label_then_check(tmp_path):
    load = CheckedLoadAnnotations(num_classes=3)
    path = _label_png(tmp_path / 'ok.png', [[0, 1], [2, 3]])
    results = load(dict(seg_map_path=path, reduce_zero_label=True, seg_fields=[]))
    assert results['gt_seg_map'].tolist() == [[255, 0], [1, 2]]
    path = _label_png(tmp_path / 'bad.png', [[0, 1], [2, 4]])  # 4 -> 3 after reduction
    with pytest.raises(BadDataError, match=r'bad\.png holds values \[3\]'):
        load(dict(seg_map_path=path, reduce_zero_label=True, seg_fields=[]))


def test_checked_annotations_name_a_truncated_label_map(tmp_path):
    path = _label_png(tmp_path / 'cut.png', np.arange(64).reshape(8, 8) % 3)
    data = open(path, 'rb').read()
    open(path, 'wb').write(data[: len(data) // 2])
    with pytest.raises(BadDataError, match=r'cut\.png: truncated PNG'):
        CheckedLoadAnnotations(num_classes=3)(
            dict(seg_map_path=path, reduce_zero_label=False, seg_fields=[])
        )


@pytest.mark.parametrize('label_size', [(32, 32), (64, 48)])
@pytest.mark.parametrize('resize_first', [False, True], ids=['train_order', 'val_order'])
def test_a_label_map_of_another_size_than_its_image_names_both_files(
    tmp_path, label_size, resize_first
):
    """Train pipelines load the labels right after the image; mmseg's test
    pipelines resize the image first. Either way the sizes as decoded differ."""
    from mmcv.transforms import Resize

    image = _jpeg(str(tmp_path / 'img.jpg'), size=64)
    label = str(tmp_path / 'label.png')
    Image.fromarray(np.ones(label_size[::-1], np.uint8)).save(label)
    results = CheckedLoadImageFromFile()(
        dict(img_path=image, seg_map_path=label, reduce_zero_label=False, seg_fields=[])
    )
    if resize_first:
        results = Resize(scale=label_size, keep_ratio=False)(results)
    with pytest.raises(
        BadDataError,
        match=rf'label map {label} is {label_size[0]}x'
        rf'{label_size[1]} .* its image {image} is 64x64',
    ):
        CheckedLoadAnnotations(num_classes=4)(results)


def test_a_label_map_as_large_as_its_image_passes_after_a_resize(tmp_path):
    from mmcv.transforms import Resize

    image = _jpeg(str(tmp_path / 'img.jpg'), size=64)
    label = str(tmp_path / 'label.png')
    Image.fromarray(np.ones((64, 64), np.uint8)).save(label)
    results = Resize(scale=(32, 32))(
        CheckedLoadImageFromFile()(
            dict(img_path=image, seg_map_path=label, reduce_zero_label=False, seg_fields=[])
        )
    )
    assert CheckedLoadAnnotations(num_classes=4)(results)['gt_seg_map'].shape == (64, 64)


def test_registered_for_mmpretrain_and_mmseg_pipelines():
    from mmpretrain.registry import TRANSFORMS as PRETRAIN_TRANSFORMS
    from mmseg.registry import TRANSFORMS as SEG_TRANSFORMS

    assert isinstance(
        PRETRAIN_TRANSFORMS.build(dict(type='CheckedLoadImageFromFile')), CheckedLoadImageFromFile
    )
    assert isinstance(
        SEG_TRANSFORMS.build(dict(type='CheckSegLabels', num_classes=3)), CheckSegLabels
    )
    assert isinstance(
        SEG_TRANSFORMS.build(dict(type='CheckedLoadAnnotations', num_classes=3)),
        CheckedLoadAnnotations,
    )
