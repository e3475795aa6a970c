"""Batch augments that also yield per-patch targets, and their routing.

``PatchCutMix`` is registered in ``mmpretrain.registry.BATCH_AUGMENTS``;
``PatchClsDataPreprocessor`` (``mmpretrain.registry.MODELS``) passes its
``(B, n, K)`` per-patch targets to the model as ``patch_targets``.
"""
from .data_preprocessor import (PATCH_TARGETS_KEY, PatchClsDataPreprocessor,
                                PatchRandomBatchAugment)
from .patch_cutmix import PatchCutMix

__all__ = [
    'PatchCutMix', 'PatchClsDataPreprocessor', 'PatchRandomBatchAugment',
    'PATCH_TARGETS_KEY'
]
