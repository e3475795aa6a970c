"""Loading transforms that fail loudly, naming the file, on bad data.

mmcv's ``LoadImageFromFile`` decodes with OpenCV, which returns a partly grey
image for a truncated JPEG (it only prints "Premature end of JPEG file") and
re-raises other decode errors without the file name; mmseg's
``LoadAnnotations`` accepts any label value, so a label map with values
outside the class range surfaces later as an index error in the loss (or a
wrong mIoU) with no file named. These transforms are drop-in replacements
that check instead. The configs in ``configs/pretrain`` and ``configs/seg``
name them in place of the recipes' stock loaders, with every other argument
of those loaders kept.
"""

from typing import Optional

import mmcv
import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmengine import fileio
from mmengine.registry import TRANSFORMS
from mmseg.datasets.transforms import LoadAnnotations

_JPEG_START = b'\xff\xd8'
_JPEG_START_OF_SCAN = b'\xff\xda'
_JPEG_END = b'\xff\xd9'
_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
_PNG_END_CHUNK = b'IEND'


class BadDataError(ValueError):
    """An input file is unreadable, truncated or holds invalid values."""


def find_truncation(data: bytes) -> Optional[str]:
    """Why the encoded JPEG or PNG ``data`` is cut short, or None if whole.

    A JPEG is whole when an end-of-image marker follows its last
    start-of-scan marker (byte stuffing keeps ``FF D9`` out of the scan data;
    an EXIF thumbnail's own markers come before the main image's scans, and
    bytes after the end marker are allowed). A PNG is whole when it holds its
    ``IEND`` chunk. Other formats are left to the decoder.

    Args:
        data (bytes): The file's bytes.

    Returns:
        str | None: A short description of the truncation.
    """
    if data.startswith(_JPEG_START):
        last_scan = data.rfind(_JPEG_START_OF_SCAN)
        if last_scan < 0 or data.rfind(_JPEG_END) < last_scan:
            return 'truncated JPEG (no end-of-image marker after the last scan)'
    elif data.startswith(_PNG_SIGNATURE):
        if data.rfind(_PNG_END_CHUNK) < 0:
            return 'truncated PNG (no IEND chunk)'
    return None


def decode_checked(data: bytes, path: str, flag: str, backend: str) -> np.ndarray:
    """Decode image bytes with mmcv, raising :class:`BadDataError` naming ``path``.

    Args:
        data (bytes): Encoded image.
        path (str): The file, for the message.
        flag (str): ``mmcv.imfrombytes`` flag (``'color'``, ``'unchanged'``...).
        backend (str): ``mmcv.imfrombytes`` backend (``'cv2'``, ``'pillow'``...).

    Returns:
        np.ndarray: ``(H, W, C)`` or ``(H, W)`` image.
    """
    problem = find_truncation(data)
    if problem is None:
        try:
            img = mmcv.imfrombytes(data, flag=flag, backend=backend)
        except Exception as error:  # noqa: BLE001 -- re-raised with the file named
            problem = f'{type(error).__name__}: {error}'
        else:
            if img is None:
                problem = f'the {backend} decoder could not decode it'
    if problem is not None:
        raise BadDataError(f'cannot read image {path}: {problem}')
    return img


@TRANSFORMS.register_module()
class CheckedLoadImageFromFile(LoadImageFromFile):
    """``LoadImageFromFile`` that refuses truncated or undecodable images.

    Same arguments and output as :class:`mmcv.transforms.LoadImageFromFile`
    (``img`` ``(H, W, 3)`` BGR uint8 with the default ``color_type``),
    including the decoder (``imdecode_backend='cv2'``), so swapping it into a
    recipe leaves the pixels unchanged. Before decoding, a JPEG or PNG is
    checked for truncation (:func:`find_truncation`); any read or decode
    failure becomes a :class:`BadDataError` naming ``img_path``. A missing
    file is skipped (``None``) only with ``ignore_empty=True``, as in mmcv.
    """

    def transform(self, results: dict) -> Optional[dict]:
        path = results['img_path']
        try:
            if self.file_client_args is not None:
                data = fileio.FileClient.infer_client(self.file_client_args, path).get(path)
            else:
                data = fileio.get(path, backend_args=self.backend_args)
        except Exception as error:  # noqa: BLE001 -- re-raised with the file named
            if self.ignore_empty:
                return None
            raise BadDataError(
                f'cannot read image {path}: {type(error).__name__}: {error}'
            ) from error
        img = decode_checked(data, path, self.color_type, self.imdecode_backend)
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results


@TRANSFORMS.register_module()
class CheckSegLabels:
    """Check that a loaded label map holds only class indices or the ignore index.

    Place it right after ``LoadAnnotations`` (which applies ``reduce_zero_label``
    and ``label_map``), e.g. ``dict(type='CheckSegLabels', num_classes=150)``,
    or use :class:`CheckedLoadAnnotations`, which does both.

    Args:
        num_classes (int): Valid labels are ``0 .. num_classes - 1``.
        ignore_index (int): Also valid. Defaults to 255.

    Raises:
        BadDataError: naming ``seg_map_path`` and the offending values.
    """

    def __init__(self, num_classes: int, ignore_index: int = 255):
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f'num_classes must be a positive int, got {num_classes!r}')
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def __call__(self, results: dict) -> dict:
        labels = np.unique(results['gt_seg_map'])
        bad = labels[((labels >= self.num_classes) | (labels < 0)) & (labels != self.ignore_index)]
        if bad.size:
            raise BadDataError(
                f'label map {results.get("seg_map_path")} holds values {bad.tolist()} outside '
                f'the class range [0, {self.num_classes - 1}] (ignore index '
                f'{self.ignore_index}); check num_classes and reduce_zero_label'
            )
        return results

    def __repr__(self) -> str:
        return (
            f'{type(self).__name__}(num_classes={self.num_classes}, '
            f'ignore_index={self.ignore_index})'
        )


def check_label_size(results: dict) -> None:
    """Refuse a label map whose size differs from its image's.

    Compares ``gt_seg_map`` ``(H, W)`` with ``ori_shape``, the image's size
    as decoded (no resize changes it); without a loaded image there is
    nothing to compare.

    Raises:
        BadDataError: naming both files and both sizes.
    """
    image_size = results.get('ori_shape')
    label_size = tuple(results['gt_seg_map'].shape[:2])
    if image_size is not None and tuple(image_size[:2]) != label_size:
        raise BadDataError(
            f'label map {results.get("seg_map_path")} is {label_size[1]}x{label_size[0]} '
            f'(width x height) but its image {results.get("img_path")} is '
            f'{image_size[1]}x{image_size[0]}'
        )


@TRANSFORMS.register_module()
class CheckedLoadAnnotations(LoadAnnotations):
    """mmseg's ``LoadAnnotations`` that checks the label map it loads.

    The label map (``gt_seg_map``, ``(H, W)`` uint8, after
    ``reduce_zero_label`` and the dataset's ``label_map``) must hold only
    ``0 .. num_classes - 1`` or ``ignore_index``, and must be as large as its
    image as decoded (``ori_shape``, which a ``Resize`` placed before this
    loader, as in mmseg's test pipelines, leaves alone); a truncated or
    undecodable file, a size mismatch or any other value raises
    :class:`BadDataError` naming ``seg_map_path`` (and ``img_path``).

    Args:
        num_classes (int): Classes of the dataset (150 for ADE20K, 19 for
            Cityscapes).
        ignore_index (int): Defaults to 255 (mmseg's).
        **kwargs: As :class:`mmseg.datasets.transforms.LoadAnnotations`.
    """

    def __init__(self, num_classes: int, ignore_index: int = 255, **kwargs):
        super().__init__(**kwargs)
        self.check_labels = CheckSegLabels(num_classes, ignore_index)

    def _load_seg_map(self, results: dict) -> None:
        path = results['seg_map_path']
        try:
            problem = find_truncation(fileio.get(path, backend_args=self.backend_args))
            if problem is None:
                super()._load_seg_map(results)
        except (OSError, ValueError) as error:  # file and decoder errors
            problem = f'{type(error).__name__}: {error}'
        if problem is not None:
            raise BadDataError(f'cannot read label map {path}: {problem}')
        check_label_size(results)
        self.check_labels(results)

    def __repr__(self) -> str:
        return (
            f'{super().__repr__()[:-1]}, num_classes={self.check_labels.num_classes}, '
            f'ignore_index={self.check_labels.ignore_index})'
        )
