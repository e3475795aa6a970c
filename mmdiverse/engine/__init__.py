"""Training-loop extensions: hooks."""
from .hooks import LossWeightWarmupHook, PatchSimilarityHook, SafeCheckpointHook
from . import schedulers  # noqa: F401,E402  (registers WarmupPolyLR)
from .runner import ExactResumeRunner  # noqa: E402

__all__ = ['PatchSimilarityHook', 'LossWeightWarmupHook', 'SafeCheckpointHook',
           'ExactResumeRunner']
