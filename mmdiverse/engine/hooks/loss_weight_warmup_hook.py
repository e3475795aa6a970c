"""Ramp the diversity terms up from zero at the start of training."""

from typing import Optional, Sequence, Union

from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmpretrain.utils import get_ori_model


@HOOKS.register_module()
class LossWeightWarmupHook(Hook):
    """Linear warm-up of the diversity loss weights.

    Before every training iteration, each chosen term of the model's
    ``DiversityRegularizer`` (``model.diversity``) is scaled by

    .. math::
        f = f_0 + (1 - f_0) \\min(1, \\mathrm{iter} / T)

    computed from ``runner.iter``, so resuming continues the ramp. Terms
    with ``f = 0`` are skipped (reported as 0). The factor is logged as
    ``diversity_scale``.

    Not mmpretrain's ``WarmupParamHook`` (nor a subclass): that hook sets one
    attribute, found by module and attribute name, to ``value * min(1, iter /
    (warmup_epochs * max_iters / max_epochs))`` -- from zero, in epochs only,
    and under an ``IterBasedTrainLoop`` (``max_epochs=1``) one "epoch" is the
    whole run. The diversity terms are several, each scaled through
    ``DiversityRegularizer.set_term_scale`` (which skips a term at factor 0),
    and recipes ramp them from a start factor over iterations or epochs;
    overriding every method of ``WarmupParamHook`` would keep only its name.

    Registered in mmengine's root ``HOOKS``, so mmpretrain and mmseg configs
    both find it by name.

    Args:
        warmup_iters (int, optional): ``T`` in iterations.
        warmup_epochs (int | float, optional): ``T`` in epochs (converted
            with the train dataloader length). Give exactly one of the two.
        terms (str | Sequence[str]): Terms to ramp (``'all'`` or names like
            ``'patch_mix'``). Defaults to ``'all'``.
        start_factor (float): ``f_0``. Defaults to 0.
    """

    priority = 'NORMAL'

    def __init__(
        self,
        warmup_iters: Optional[int] = None,
        warmup_epochs: Optional[Union[int, float]] = None,
        terms: Union[str, Sequence[str]] = 'all',
        start_factor: float = 0.0,
    ):
        if (warmup_iters is None) == (warmup_epochs is None):
            raise ValueError('give exactly one of warmup_iters and warmup_epochs')
        if not 0.0 <= start_factor <= 1.0:
            raise ValueError(f'start_factor must be in [0, 1], got {start_factor}')
        self.warmup_iters = warmup_iters
        self.warmup_epochs = warmup_epochs
        self.terms = [terms] if isinstance(terms, str) else list(terms)
        self.start_factor = start_factor

    def _regularizer(self, runner):
        model = get_ori_model(runner.model)
        reg = getattr(model, 'diversity', None)
        if reg is None or not hasattr(reg, 'set_term_scale'):
            raise ValueError(
                f'{type(self).__name__}: model '
                f'{type(model).__name__} has no diversity '
                'regularizer (diversity=None?)'
            )
        return reg

    def before_train(self, runner) -> None:
        if self.warmup_epochs is not None:
            self.warmup_iters = max(
                1, int(round(self.warmup_epochs * len(runner.train_dataloader)))
            )
        reg = self._regularizer(runner)
        for term in self.terms:  # fail early on unknown terms
            reg.set_term_scale(term, 1.0)

    def factor(self, cur_iter: int) -> float:
        progress = min(1.0, cur_iter / max(1, self.warmup_iters))
        return self.start_factor + (1.0 - self.start_factor) * progress

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        factor = self.factor(runner.iter)
        reg = self._regularizer(runner)
        for term in self.terms:
            reg.set_term_scale(term, factor)
        runner.message_hub.update_scalar('train/diversity_scale', factor)
