"""Data transforms (registered in mmengine's root TRANSFORMS registry, so
mmpretrain and mmseg pipelines find them)."""

from .checked_loading import (
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
    'find_truncation',
]
