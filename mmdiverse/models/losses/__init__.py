"""Patch-diversity regularizers, registered in ``mmpretrain.registry.MODELS``.

Each loss takes plain tensors and returns a scalar already multiplied by its
``loss_weight``; the functional forms (no weight) double as diagnostics.
"""

from .attention_diversity_loss import AttentionDiversityLoss, attention_head_similarity
from .patch_contrastive_loss import (
    PatchContrastiveLoss,
    patch_contrastive_loss,
    pool_tokens_to_grid,
)
from .patch_cosine_loss import PatchCosineLoss, patch_cosine_similarity
from .patch_mixing_loss import PatchMixingLoss, patch_mixing_loss
from .weight_condition_loss import WeightConditionLoss, power_iteration_extremes

__all__ = [
    'PatchCosineLoss',
    'PatchContrastiveLoss',
    'PatchMixingLoss',
    'AttentionDiversityLoss',
    'WeightConditionLoss',
    'patch_cosine_similarity',
    'patch_contrastive_loss',
    'pool_tokens_to_grid',
    'patch_mixing_loss',
    'attention_head_similarity',
    'power_iteration_extremes',
]
