"""The patch-diversity regularizer, shared by classifiers and segmentors.

* :mod:`.terms`: the one table of terms (name -> loss key -> what each
  reads from the captured tensors), :data:`TERMS`, :data:`SEGMENTATION_TERMS`.
* :mod:`.regularizer`: :class:`DiversityRegularizer`, the loss modules and
  the tap of one backbone; turns a captured forward pass into the terms.
* :mod:`.patch_mixing`: the classifier-head side of patch mixing
  (per-token logits, per-patch targets, the head CE's weight).
"""
from . import patch_mixing
from .regularizer import DiversityRegularizer
from .terms import (DIAG_KEY, SEGMENTATION_TERMS, TERM_TABLE, TERMS,
                    TERMS_BY_NAME, DiversityTerm, TermInputs, loss_key)

__all__ = [
    'DiversityRegularizer', 'DiversityTerm', 'TermInputs', 'TERM_TABLE',
    'TERMS', 'TERMS_BY_NAME', 'SEGMENTATION_TERMS', 'DIAG_KEY', 'loss_key',
    'patch_mixing'
]
