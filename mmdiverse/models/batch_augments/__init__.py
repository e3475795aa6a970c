"""Batch augments that also yield per-patch targets, and their routing.

``PatchCutMix`` and ``PairedMixup`` are registered in
``mmpretrain.registry.BATCH_AUGMENTS``;
``PatchClsDataPreprocessor`` (``mmpretrain.registry.MODELS``) passes its
``(B, n, K)`` per-patch targets to the model as ``patch_targets``.
"""

from .data_preprocessor import (
    BATCH_AUGMENT_KEY,
    PATCH_TARGETS_KEY,
    MixRecord,
    PatchClsDataPreprocessor,
    PatchRandomBatchAugment,
    moves_pixels,
)
from .paired_mixup import PairedMixup
from .patch_cutmix import PatchCutMix
from .patch_target_augment import PatchTargetAugment

__all__ = [
    'PatchCutMix',
    'PairedMixup',
    'PatchClsDataPreprocessor',
    'PatchRandomBatchAugment',
    'PatchTargetAugment',
    'MixRecord',
    'PATCH_TARGETS_KEY',
    'BATCH_AUGMENT_KEY',
    'moves_pixels',
]
