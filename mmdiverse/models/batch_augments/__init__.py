"""Batch augments that also yield per-patch targets, and their routing.

``PatchCutMix`` is registered in ``mmpretrain.registry.BATCH_AUGMENTS``;
``PatchClsDataPreprocessor`` (``mmpretrain.registry.MODELS``) writes its
per-patch targets into the data samples as ``gt_patch_score``.
"""
from .data_preprocessor import (PATCH_SCORE_FIELD, PatchClsDataPreprocessor,
                                PatchRandomBatchAugment, stack_patch_scores)
from .patch_cutmix import PatchCutMix

__all__ = [
    'PatchCutMix', 'PatchClsDataPreprocessor', 'PatchRandomBatchAugment',
    'PATCH_SCORE_FIELD', 'stack_patch_scores'
]
