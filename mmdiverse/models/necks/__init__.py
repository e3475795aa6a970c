"""Necks (registered in mmpretrain's MODELS registry)."""

from .token_pool_neck import TokenPoolNeck

__all__ = ['TokenPoolNeck']
