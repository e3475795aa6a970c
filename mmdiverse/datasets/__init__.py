"""Data helpers: synthetic data sets in the standard ImageNet / ADE20K layouts."""
from .synthetic_shapes import (SHAPES, make_classification_set, make_segmentation_set,
                               shape_names)

__all__ = ['SHAPES', 'make_classification_set', 'make_segmentation_set', 'shape_names']
