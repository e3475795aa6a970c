"""Data: checked loading transforms, synthetic data sets in the ImageNet / ADE20K layouts."""

from .per_sample_seed import PerSampleSeedDataset, PerSampleSeedSampler, seed_each_sample
from .synthetic_shapes import SHAPES, make_classification_set, make_segmentation_set, shape_names
from .transforms import (
    BadDataError,
    CheckedLoadAnnotations,
    CheckedLoadImageFromFile,
    CheckSegLabels,
    find_truncation,
)

__all__ = [
    'BadDataError',
    'CheckedLoadAnnotations',
    'CheckedLoadImageFromFile',
    'CheckSegLabels',
    'PerSampleSeedDataset',
    'PerSampleSeedSampler',
    'seed_each_sample',
    'SHAPES',
    'find_truncation',
    'make_classification_set',
    'make_segmentation_set',
    'shape_names',
]
