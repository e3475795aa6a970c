"""Loading transforms that fail loudly, naming the file, on bad data.

mmcv's ``LoadImageFromFile`` decodes with OpenCV, which returns a partly grey
image for a truncated JPEG and re-raises other decode errors without the file
name; mmseg's ``LoadAnnotations`` accepts any label value, so a label map with
values outside the class range surfaces later as an index error in the loss
(or a wrong mIoU) with no file named. These transforms are drop-in
replacements that check instead.
"""
from typing import Optional

import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmengine.registry import TRANSFORMS


class BadDataError(ValueError):
    """An input file is unreadable, truncated or holds invalid values."""


@TRANSFORMS.register_module()
class CheckedLoadImageFromFile(LoadImageFromFile):
    """``LoadImageFromFile`` that decodes strictly and names the file on failure.

    Decoding uses Pillow by default, which raises on truncated files instead of
    filling the missing rows. Any read or decode error becomes a
    :class:`BadDataError` naming ``img_path``.

    Args:
        imdecode_backend (str): Defaults to ``'pillow'`` (strict).
        **kwargs: As :class:`mmcv.transforms.LoadImageFromFile`.
    """

    def __init__(self, imdecode_backend: str = 'pillow', **kwargs):
        super().__init__(imdecode_backend=imdecode_backend, **kwargs)

    def transform(self, results: dict) -> Optional[dict]:
        try:
            return super().transform(results)
        except Exception as error:  # noqa: BLE001 -- re-raised with the file named
            raise BadDataError(f'cannot read image {results.get("img_path")}: '
                               f'{type(error).__name__}: {error}') from error


@TRANSFORMS.register_module()
class CheckSegLabels:
    """Check that a loaded label map holds only class indices or the ignore index.

    Place it right after ``LoadAnnotations`` (which applies ``reduce_zero_label``
    and ``label_map``), e.g.
    ``dict(type='CheckSegLabels', num_classes=150)``.

    Args:
        num_classes (int): Valid labels are ``0 .. num_classes - 1``.
        ignore_index (int): Also valid. Defaults to 255.

    Raises:
        BadDataError: naming ``seg_map_path`` and the offending values.
    """

    def __init__(self, num_classes: int, ignore_index: int = 255):
        if num_classes < 1:
            raise ValueError(f'CheckSegLabels.num_classes must be positive, got {num_classes}')
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def __call__(self, results: dict) -> dict:
        labels = np.unique(results['gt_seg_map'])
        bad = labels[(labels >= self.num_classes) & (labels != self.ignore_index)]
        bad = np.concatenate([bad, labels[labels < 0]])
        if bad.size:
            raise BadDataError(
                f'label map {results.get("seg_map_path")} holds values {bad.tolist()} outside '
                f'the class range [0, {self.num_classes - 1}] (ignore index '
                f'{self.ignore_index}); check num_classes and reduce_zero_label')
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(num_classes={self.num_classes}, '
                f'ignore_index={self.ignore_index})')
