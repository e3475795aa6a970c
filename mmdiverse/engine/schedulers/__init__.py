"""Parameter schedulers (registered in mmengine's root PARAM_SCHEDULERS, so
mmpretrain and mmseg configs name them by their plain name)."""

from .timm_epoch_cosine_lr import TimmEpochCosineLR
from .warmup_poly_lr import WarmupPolyLR

__all__ = ['TimmEpochCosineLR', 'WarmupPolyLR']
