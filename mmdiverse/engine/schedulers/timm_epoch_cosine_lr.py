"""DeiT's learning-rate schedule as its ``main.py`` runs timm's cosine scheduler.

DeiT (and Diverse-ViT, github: VITA-Group/Diverse-ViT, ``main.py``) builds
timm's ``CosineLRScheduler(t_initial=epochs, lr_min=min_lr,
warmup_lr_init=warmup_lr, warmup_t=warmup_epochs)`` and calls
``lr_scheduler.step(epoch)`` once, *after* training epoch ``epoch``. So the lr
changes once per epoch, and epoch ``e`` runs at timm's value for ``e - 1``
(epoch 0 at ``warmup_lr_init``, set when the scheduler is built)::

    L(t) = warmup_lr_init + t * (base_lr - warmup_lr_init) / warmup_t     t < warmup_t
         = lr_min + (base_lr - lr_min) * (1 + cos(pi * t / t_initial)) / 2  otherwise
    lr(epoch e) = L(max(e - lag, 0))                                        lag = 1

The cosine phase counts from epoch 0 (timm's ``warmup_prefix=False``), not
from the end of the warm-up as mmengine's ``LinearLR`` + ``CosineAnnealingLR``
pair does, and mmengine's pair moves every iteration. Over 300 epochs the two
differ by up to 6 % of the lr after the warm-up (and the warm-up itself: two
epochs at 1e-6 here); docs/fidelity.md, "Diverse-ViT DeiT-S".

``warmup_lr_init`` and ``lr_min`` are absolute, as in timm (``auto_scale_lr``
scales only the base lr).
"""

import math
from typing import List, Union

from mmengine.optim import BaseOptimWrapper
from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import INF, _ParamScheduler
from mmengine.registry import PARAM_SCHEDULERS
from torch.optim import Optimizer


@PARAM_SCHEDULERS.register_module()
class TimmEpochCosineLR(LRSchedulerMixin, _ParamScheduler):
    """timm ``CosineLRScheduler`` (one cycle) stepped once per epoch as DeiT's
    ``main.py`` steps it.

    Args:
        optimizer (Optimizer or BaseOptimWrapper): the optimizer.
        t_initial (int): cosine length in epochs (timm ``t_initial``, DeiT's
            ``--epochs``).
        lr_min (float): lr at the end of the cosine (``--min-lr``).
        warmup_lr_init (float): lr at warm-up step 0 (``--warmup-lr``).
        warmup_t (int): warm-up epochs (``--warmup-epochs``).
        lag (int): epochs between timm's step index and the epoch trained
            with it; 1 for ``step(epoch)`` after each epoch. Defaults to 1.
        begin (int): Defaults to 0.
        end (int): Defaults to INF.
        last_step (int): Defaults to -1.
        by_epoch (bool): must be True (the schedule is per epoch).
        verbose (bool): Defaults to False.
    """

    def __init__(
        self,
        optimizer: Union[Optimizer, BaseOptimWrapper],
        t_initial: int,
        lr_min: float = 0.0,
        warmup_lr_init: float = 0.0,
        warmup_t: int = 0,
        lag: int = 1,
        begin: int = 0,
        end: int = INF,
        last_step: int = -1,
        by_epoch: bool = True,
        verbose: bool = False,
    ):
        if not by_epoch:
            raise ValueError(
                'TimmEpochCosineLR: by_epoch must be True (timm steps this schedule once per epoch)'
            )
        if t_initial <= 0 or not 0 <= warmup_t < t_initial or lag < 0:
            raise ValueError(
                f'TimmEpochCosineLR: need t_initial > 0, 0 <= warmup_t < '
                f't_initial and lag >= 0, got t_initial={t_initial}, '
                f'warmup_t={warmup_t}, lag={lag}'
            )
        self.t_initial = t_initial
        self.lr_min = lr_min
        self.warmup_lr_init = warmup_lr_init
        self.warmup_t = warmup_t
        self.lag = lag
        super().__init__(
            optimizer, begin=begin, end=end, last_step=last_step, by_epoch=by_epoch, verbose=verbose
        )

    def timm_lr(self, t: int, base: float) -> float:
        """timm's ``CosineLRScheduler._get_lr(t)`` for one group (one cycle)."""
        if t < self.warmup_t:
            return self.warmup_lr_init + t * (base - self.warmup_lr_init) / self.warmup_t
        if t >= self.t_initial:
            return self.lr_min
        return self.lr_min + 0.5 * (base - self.lr_min) * (
            1 + math.cos(math.pi * t / self.t_initial)
        )

    def _get_value(self) -> List[float]:
        """The lr of epoch ``last_step`` for every parameter group."""
        t = max(self.last_step - self.lag, 0)
        return [self.timm_lr(t, base) for base in self.base_values]
