"""Data: checked loading transforms, synthetic data sets in the ImageNet / ADE20K layouts."""
from .synthetic_shapes import (SHAPES, make_classification_set, make_segmentation_set,
                               shape_names)
from .transforms import BadDataError, CheckedLoadImageFromFile, CheckSegLabels

__all__ = [
    'BadDataError', 'CheckedLoadImageFromFile', 'CheckSegLabels', 'SHAPES',
    'make_classification_set', 'make_segmentation_set', 'shape_names'
]
