"""Batch augments that also yield per-patch targets, and their routing.

``PatchCutMix`` and ``PairedMixup`` are registered in
``mmpretrain.registry.BATCH_AUGMENTS``;
``PatchClsDataPreprocessor`` (``mmpretrain.registry.MODELS``) passes its
``(B, n, K)`` per-patch targets to the model as ``patch_targets``.
"""
from .data_preprocessor import (PATCH_TARGETS_KEY, PatchClsDataPreprocessor,
                                PatchRandomBatchAugment)
from .paired_mixup import PairedMixup
from .patch_cutmix import PatchCutMix

__all__ = [
    'PatchCutMix', 'PairedMixup', 'PatchClsDataPreprocessor', 'PatchRandomBatchAugment',
    'PATCH_TARGETS_KEY'
]
