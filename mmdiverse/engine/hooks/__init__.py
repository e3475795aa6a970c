"""Hooks: per-layer patch similarity logging and loss-weight warm-up."""

from .loss_weight_warmup_hook import LossWeightWarmupHook
from .patch_similarity_hook import PatchSimilarityHook

__all__ = ['PatchSimilarityHook', 'LossWeightWarmupHook']
from .export_meta_hook import ExportMetaHook  # noqa: E402

__all__ += ['ExportMetaHook']
from .non_finite_loss_hook import (  # noqa: E402
    NonFiniteCheckpointError,
    NonFiniteError,
    NonFiniteGradientError,
    NonFiniteLossError,
    NonFiniteLossHook,
)
from .random_state_hook import RandomStateHook  # noqa: E402

__all__ += [
    'NonFiniteError',
    'NonFiniteLossError',
    'NonFiniteGradientError',
    'NonFiniteCheckpointError',
    'NonFiniteLossHook',
    'RandomStateHook',
]
from .class_consistency_hook import ClassConsistencyHook, ClassMismatchError  # noqa: E402

__all__ += ['ClassConsistencyHook', 'ClassMismatchError']
from .safe_checkpoint_hook import SafeCheckpointHook  # noqa: E402

__all__ += ['SafeCheckpointHook']
from .validation_resume_hook import ValidationResumeHook  # noqa: E402

__all__ += ['ValidationResumeHook']
