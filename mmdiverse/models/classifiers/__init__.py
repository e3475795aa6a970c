"""Classifiers trained with the diversity regularizers.

``DiversityRegularizer``, ``TERMS``, ``DIAG_KEY`` and ``loss_key`` live in
:mod:`mmdiverse.models.diversity`; they are re-exported here for existing
imports.
"""

from ..diversity import DIAG_KEY, TERMS, DiversityRegularizer, loss_key
from .image import DiverseImageClassifier

__all__ = ['DiverseImageClassifier', 'DiversityRegularizer', 'TERMS', 'DIAG_KEY', 'loss_key']
