"""The patch-diversity regularizer, shared by classifiers and segmentors.

* :mod:`.terms`: the one table of terms (name -> loss key -> what each
  reads from the captured tensors), :data:`TERMS`, :data:`SEGMENTATION_TERMS`.
* :mod:`.regularizer`: :class:`DiversityRegularizer`, the loss modules and
  the tap of one backbone; turns a captured forward pass into the terms.
* :mod:`.patch_mixing`: :class:`PatchMixingTerm`, patch mixing through a
  classifier head (head adapter, label smoothing, per-patch targets, the head
  CE's weight).
* :mod:`.mixin`: :class:`DiversityMixin`, the one way a model type gets the
  terms (classifier, segmentor, self-supervised models).
"""

from . import patch_mixing
from .mixin import DiversityMixin
from .patch_mixing import PatchMixingTerm
from .regularizer import DiversityRegularizer
from .terms import (
    DIAG_KEY,
    LABEL_FREE_TERMS,
    SEGMENTATION_TERMS,
    TERM_TABLE,
    TERMS,
    TERMS_BY_NAME,
    DiversityTerm,
    TermInputs,
    loss_key,
)

__all__ = [
    'DiversityMixin',
    'DiversityRegularizer',
    'DiversityTerm',
    'PatchMixingTerm',
    'TermInputs',
    'TERM_TABLE',
    'TERMS',
    'TERMS_BY_NAME',
    'SEGMENTATION_TERMS',
    'LABEL_FREE_TERMS',
    'DIAG_KEY',
    'loss_key',
    'patch_mixing',
]
