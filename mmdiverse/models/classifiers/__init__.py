"""Classifiers trained with the diversity regularizers."""
from .diversity import DIAG_KEY, TERMS, DiversityRegularizer, loss_key
from .image import DiverseImageClassifier

__all__ = [
    'DiverseImageClassifier', 'DiversityRegularizer', 'TERMS', 'DIAG_KEY',
    'loss_key'
]
