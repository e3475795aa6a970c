"""Training-loop extensions: hooks."""

from . import schedulers  # noqa: F401,E402  (registers WarmupPolyLR)
from .hooks import LossWeightWarmupHook, PatchSimilarityHook, SafeCheckpointHook
from .runner import ExactResumeRunner  # noqa: E402

__all__ = ['PatchSimilarityHook', 'LossWeightWarmupHook', 'SafeCheckpointHook', 'ExactResumeRunner']
