"""Poly learning-rate decay with linear warm-up, as mmcv 1.x computed it, in
closed form, so that a resumed run follows the schedule of *its* config.

The segmentation fork of Gong et al. (PatchVisionTransformer,
``swin-segmentation/``, mmseg 0.11 on mmcv 1.x) trains with
``lr_config = dict(policy='poly', power=1.0, min_lr=0.0, warmup='linear',
warmup_iters=1500, warmup_ratio=1e-6)``. mmcv evaluates that at every
iteration ``t`` from the run's ``max_iters`` ``T``::

    regular(t) = (base_lr - min_lr) * (1 - t / T) ** power + min_lr
    lr(t)      = regular(t) * (ratio + (1 - ratio) * t / warmup_iters)   t < warmup_iters
               = regular(t)                                              otherwise

Its ADE20K continuation resumes the 160k checkpoint with ``max_iters=200k``
(``--resume-from``): mmcv keeps no schedule state, so from iteration 160k on
the lr is ``base_lr * (1 - t / 200k)``. mmengine's stock schedulers do not
do that: ``load_state_dict`` restores every attribute of the old scheduler
(``begin``, ``end``, ``total_iters``, ...), and the chainable ``PolyLR``
multiplies the restored, nearly zero, lr. ``WarmupPolyLR`` keeps the
schedule's shape out of its state: ``state_dict`` holds the step counters
only, ``load_state_dict`` restores them and writes the value of *this*
config's schedule at the restored step into the optimizer. So the config
the run is resumed with decides the schedule (documented in
docs/fidelity.md, "Segmentation").

With ``begin=0``, ``end=max_iters`` and ``by_epoch=False`` the lr of
iteration ``t`` is ``lr(t)`` above, with ``T = end - begin``.
"""

from typing import Dict, List, Union

from mmengine.optim import BaseOptimWrapper
from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import INF, _ParamScheduler
from mmengine.registry import PARAM_SCHEDULERS
from torch.optim import Optimizer

#: What ``state_dict`` keeps: the step counters. Everything else (the
#: schedule's length, power, warm-up, base lr) comes from the config.
STATE_KEYS = ('_global_step', 'last_step')


@PARAM_SCHEDULERS.register_module()
class WarmupPolyLR(LRSchedulerMixin, _ParamScheduler):
    """mmcv 1.x ``policy='poly'`` with ``warmup='linear'``, resumable with a
    new length.

    Args:
        optimizer (Optimizer or BaseOptimWrapper): the optimizer.
        power (float): polynomial power. Defaults to 1.0.
        eta_min (float): lr at the end (mmcv's ``min_lr``). Defaults to 0.
        warmup_iters (int): steps of linear warm-up (0: none). Defaults to 0.
        warmup_ratio (float): lr factor at step 0 of the warm-up (mmcv's
            ``warmup_ratio``). Defaults to 0.1, mmcv's default.
        begin (int): first step of the schedule. Defaults to 0.
        end (int): the decay reaches ``eta_min`` at ``end`` (mmcv's
            ``max_iters``); must be finite.
        last_step (int): as mmengine's schedulers. Defaults to -1.
        by_epoch (bool): steps are epochs rather than iterations.
            Defaults to False (the segmentation recipes are iteration based).
        verbose (bool): print every update. Defaults to False.
    """

    def __init__(
        self,
        optimizer: Union[Optimizer, BaseOptimWrapper],
        power: float = 1.0,
        eta_min: float = 0.0,
        warmup_iters: int = 0,
        warmup_ratio: float = 0.1,
        begin: int = 0,
        end: int = INF,
        last_step: int = -1,
        by_epoch: bool = False,
        verbose: bool = False,
    ):
        if end == INF or end <= begin:
            raise ValueError(
                f'WarmupPolyLR: end must be a finite step after begin '
                f'({begin}), got {end}: poly decays over end - begin steps'
            )
        if not 0 <= warmup_iters < end - begin:
            raise ValueError(
                f'WarmupPolyLR: warmup_iters must be in [0, {end - begin}), got {warmup_iters}'
            )
        if not 0 < warmup_ratio <= 1:
            raise ValueError(f'WarmupPolyLR: warmup_ratio must be in (0, 1], got {warmup_ratio}')
        self.power = power
        self.eta_min = eta_min
        self.warmup_iters = warmup_iters
        self.warmup_ratio = warmup_ratio
        super().__init__(
            optimizer, begin=begin, end=end, last_step=last_step, by_epoch=by_epoch, verbose=verbose
        )

    def factor(self, step: int, base: float) -> float:
        """The lr at ``step`` (counted from ``begin``) for a group whose base lr is ``base``."""
        total = self.end - self.begin
        regular = (base - self.eta_min) * (1 - step / total) ** self.power + self.eta_min
        if step < self.warmup_iters:
            regular *= self.warmup_ratio + (1 - self.warmup_ratio) * step / self.warmup_iters
        return regular

    def _get_value(self) -> List[float]:
        """Closed form at ``last_step`` for every parameter group."""
        return [self.factor(self.last_step, base) for base in self.base_values]

    def state_dict(self) -> Dict[str, int]:
        """The step counters only: the schedule's shape stays the config's."""
        return {key: getattr(self, key) for key in STATE_KEYS}

    def load_state_dict(self, state_dict: dict):
        """Restore the step count and apply this config's lr at that step.

        ``state_dict`` may come from another mmengine scheduler (e.g. the
        stock ``LinearLR`` + ``PolyLR`` pair): only its ``_global_step``, the
        number of steps taken, is read.

        Raises:
            KeyError: the state holds no ``_global_step``.
        """
        if '_global_step' not in state_dict:
            raise KeyError(
                f"WarmupPolyLR.load_state_dict: the checkpoint's scheduler state "
                f'has no _global_step (keys: {sorted(state_dict)})'
            )
        self._global_step = int(state_dict['_global_step'])
        self.last_step = min(self._global_step, self.end - 1) - self.begin
        if self.last_step < 0:
            self.last_step = -1
            return
        for group, value in zip(self.optimizer.param_groups, self._get_value()):
            group[self.param_name] = value
        self._last_value = [group[self.param_name] for group in self.optimizer.param_groups]
