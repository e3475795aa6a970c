"""Parameter schedulers (registered in mmengine's root PARAM_SCHEDULERS, so
mmpretrain and mmseg configs name them by their plain name)."""
from .warmup_poly_lr import WarmupPolyLR

__all__ = ['WarmupPolyLR']
