"""Data transforms (registered in mmengine's root TRANSFORMS registry, so
mmpretrain and mmseg pipelines find them)."""
from .checked_loading import BadDataError, CheckedLoadImageFromFile, CheckSegLabels

__all__ = ['BadDataError', 'CheckedLoadImageFromFile', 'CheckSegLabels']
