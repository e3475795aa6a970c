"""Stop (or skip) a training step whose loss or gradients are NaN or Inf."""
from typing import Dict, List

import torch
from mmengine.hooks import Hook
from mmengine.optim import AmpOptimWrapper, OptimWrapper, OptimWrapperDict
from mmengine.registry import HOOKS
from mmpretrain.utils import get_ori_model

from .non_finite_checks import (NonFiniteCheckpointError, NonFiniteError,
                                NonFiniteGradientError, NonFiniteLossError, any_rank,
                                all_finite, describe_gradients, describe_loss_terms, is_finite,
                                non_finite_buffers, non_finite_gradients, non_finite_tensors)

__all__ = ['NonFiniteLossHook', 'NonFiniteError', 'NonFiniteLossError',
           'NonFiniteGradientError', 'NonFiniteCheckpointError']


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Keep NaN and Inf out of the weights and the checkpoints.

    mmengine sums the ``loss*`` terms, back-propagates and steps the optimizer
    whatever their values, so one NaN in a regularizer (or one exploding step)
    silently turns every weight into NaN, and gradient clipping by an infinite
    norm zeroes every update. This hook checks three places:

    * **loss terms**, in the model's ``parse_losses`` (the terms are still
      separate there, with or without DDP);
    * **gradients**, in the optimizer wrapper's ``step`` before clipping and
      before the optimizer applies them: any NaN/Inf gradient, or a total
      gradient norm that overflows to Inf, names the parameters;
    * **checkpoints**, before each is written: a NaN/Inf tensor anywhere in
      it (weights, buffers, optimizer state) refuses the save, so the last
      checkpoint on disk is always finite. Buffers that were non-finite
      before training (masks of ``-inf``) are allowed.

    On a bad loss or gradient:

    * ``action='raise'`` (default): stops the run with
      :class:`NonFiniteLossError` / :class:`NonFiniteGradientError` naming the
      terms or parameters and the iteration, before the optimizer step;
    * ``action='skip'``: logs the same message and skips the optimizer step
      (gradients are zeroed; under DDP every rank skips together). More than
      ``max_consecutive_skips`` skipped steps in a row stop the run with the
      error of the last one: a run that keeps skipping is not training.

    With ``AmpOptimWrapper`` and a dynamic loss scale, overflowing gradients
    are the loss scaler's business (it skips the step and lowers the scale),
    so they are not checked here; the hook only bounds the scaler's skipped
    steps in a row by ``max_consecutive_skips``, whatever ``action`` is.

    Config::

        custom_hooks = [dict(type='NonFiniteLossHook', action='raise')]

    Args:
        action (str): ``'raise'`` or ``'skip'``. Defaults to ``'raise'``.
        max_consecutive_skips (int): Skipped steps in a row allowed before
            the run stops. Defaults to 3.
        check_gradients (bool): Check the gradients before each step.
            Defaults to True.
        check_checkpoints (bool): Check each checkpoint before it is saved.
            Defaults to True.
    """

    priority = 'LOWEST'  # its checkpoint check sees what every other hook added

    def __init__(self, action: str = 'raise', max_consecutive_skips: int = 3,
                 check_gradients: bool = True, check_checkpoints: bool = True):
        if action not in ('raise', 'skip'):
            raise ValueError(f"NonFiniteLossHook.action must be 'raise' or 'skip', got {action!r}")
        if not isinstance(max_consecutive_skips, int) or max_consecutive_skips < 0:
            raise ValueError('NonFiniteLossHook.max_consecutive_skips must be an int >= 0, got '
                             f'{max_consecutive_skips!r}')
        self.action = action
        self.max_consecutive_skips = max_consecutive_skips
        self.check_gradients = check_gradients
        self.check_checkpoints = check_checkpoints
        self.skipped_iters: List[int] = []
        self._consecutive = 0
        self._allowed_non_finite = set()

    # ------------------------------------------------------------ set-up
    def before_train(self, runner) -> None:
        model = get_ori_model(runner.model)
        self._allowed_non_finite = non_finite_buffers(model.named_buffers())
        self._check_loss_terms(runner, model)
        names = {id(p): name for name, p in model.named_parameters()}
        for wrapper in _optim_wrappers(runner.optim_wrapper):
            if isinstance(wrapper, AmpOptimWrapper) and wrapper._scale_update_param is None:
                self._bound_loss_scaler_skips(runner, wrapper)
            elif self.check_gradients:
                self._check_gradients(runner, wrapper, names)

    def _check_loss_terms(self, runner, model) -> None:
        parse_losses = model.parse_losses
        hook = self

        def checked_parse_losses(losses):
            total, log_vars = parse_losses(losses)
            # One host read for all terms; the per-term look-up runs only when one is bad.
            bad = {}
            if not all_finite([total, *log_vars.values()]):
                bad = {name: value for name, value in log_vars.items()
                       if name != 'loss' and not is_finite(value)}
                if not is_finite(total):
                    bad['loss (total)'] = total
            if any_rank(bool(bad)):
                hook._skip_or_raise(runner, NonFiniteLossError,
                                    f'Non-finite loss {hook._where(runner)}: '
                                    f'{describe_loss_terms(bad)}.')
                total = _zero_loss_of(model)
            return total, log_vars

        model.parse_losses = checked_parse_losses
        if self.action == 'skip':
            self._skip_steps_with_zero_loss(runner)

    def _skip_steps_with_zero_loss(self, runner) -> None:
        """Let ``update_params`` back-propagate the zero loss (so DDP's
        gradient sync happens on every rank) but not step the optimizer."""
        optim_wrapper = runner.optim_wrapper
        update_params = optim_wrapper.update_params
        hook = self

        def update_or_skip(loss, *args, **kwargs):
            if hook.skipped_iters and hook.skipped_iters[-1] == runner.iter + 1:
                optim_wrapper.backward(loss)
                optim_wrapper.zero_grad()
                return
            update_params(loss, *args, **kwargs)

        optim_wrapper.update_params = update_or_skip

    def _check_gradients(self, runner, wrapper: OptimWrapper, names: Dict[int, str]) -> None:
        step = wrapper.step
        hook = self

        def checked_step(**kwargs):
            params = [p for group in wrapper.optimizer.param_groups for p in group['params']]
            bad = non_finite_gradients(params, names)
            if bad:
                hook._skip_or_raise(runner, NonFiniteGradientError,
                                    f'Non-finite gradient {hook._where(runner)}: '
                                    f'{describe_gradients(bad)}.')
                return None  # update_params zeroes the gradients after the step
            return step(**kwargs)

        wrapper.step = checked_step

    def _bound_loss_scaler_skips(self, runner, wrapper: AmpOptimWrapper) -> None:
        step = wrapper.step
        hook = self

        def counted_step(**kwargs):
            scale = float(wrapper.loss_scaler.get_scale())
            result = step(**kwargs)
            if float(wrapper.loss_scaler.get_scale()) < scale:  # the scaler found Inf/NaN
                hook._consecutive += 1
                hook.skipped_iters.append(runner.iter + 1)
                if hook._consecutive > hook.max_consecutive_skips:
                    raise NonFiniteGradientError(
                        f'The AMP loss scaler skipped {hook._consecutive} steps in a row '
                        f'{hook._where(runner)} (non-finite gradients; loss scale now '
                        f'{float(wrapper.loss_scaler.get_scale()):.4g}, '
                        f'max_consecutive_skips={hook.max_consecutive_skips}).')
            return result

        wrapper.step = counted_step

    # ------------------------------------------------------------ actions
    def _skip_or_raise(self, runner, error: type, message: str) -> None:
        if self.action == 'raise':
            raise error(message + ' The optimizer step was not taken, so the weights are '
                        'unchanged.')
        self._consecutive += 1
        self.skipped_iters.append(runner.iter + 1)
        if self._consecutive > self.max_consecutive_skips:
            raise error(f'{message} {self._consecutive} optimizer steps in a row were skipped '
                        f'(NonFiniteLossHook.max_consecutive_skips='
                        f'{self.max_consecutive_skips}): the run is not training; stopping.')
        runner.logger.warning(message + ' Skipping this optimizer step.')

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not self.skipped_iters or self.skipped_iters[-1] != runner.iter + 1:
            self._consecutive = 0  # this iteration's step was taken

    @staticmethod
    def _where(runner) -> str:
        return f'at iteration {runner.iter + 1} (epoch {runner.epoch + 1})'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if not self.check_checkpoints:
            return
        bad = non_finite_tensors(checkpoint, self._allowed_non_finite)
        if bad:
            more = f' and {len(bad) - 10} more' if len(bad) > 10 else ''
            raise NonFiniteCheckpointError(
                f'Refusing to save the checkpoint {self._where(runner)}: non-finite tensors '
                f'{", ".join(bad[:10])}{more}. The checkpoints already on disk are finite.')


def _optim_wrappers(optim_wrapper) -> List[OptimWrapper]:
    if isinstance(optim_wrapper, OptimWrapperDict):
        return list(optim_wrapper.values())
    return [optim_wrapper]


def _zero_loss_of(model: torch.nn.Module) -> torch.Tensor:
    """A zero loss that touches every trainable parameter (finite zero gradients)."""
    return sum(p.sum() * 0. for p in model.parameters() if p.requires_grad)
