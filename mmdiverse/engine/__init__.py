"""Training-loop extensions: hooks."""
from .hooks import LossWeightWarmupHook, PatchSimilarityHook

__all__ = ['PatchSimilarityHook', 'LossWeightWarmupHook']
