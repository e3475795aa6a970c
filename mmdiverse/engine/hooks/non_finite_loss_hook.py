"""Stop (or skip) a training step whose loss is NaN or Inf, naming the term."""
import math
from typing import Dict

import torch
import torch.distributed as torch_dist
from mmengine.dist import is_distributed
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


class NonFiniteLossError(FloatingPointError):
    """A loss term was NaN or Inf; the optimizer step was not taken."""


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Check every loss term before the optimizer step.

    mmengine sums the ``loss*`` terms and steps the optimizer whatever their
    values, so one NaN in a regularizer silently turns every weight into NaN.
    This hook wraps the model's ``parse_losses`` (the place where the terms
    are still separate, with or without DDP) and, when any term or the total
    is not finite:

    * ``action='raise'`` (default): stops the run with
      :class:`NonFiniteLossError` naming the terms, their values and the
      iteration, before the optimizer step; the weights and the last
      checkpoint stay finite;
    * ``action='skip'``: logs the same message and skips the optimizer step
      (gradients are zeroed; under DDP every rank skips together).

    Config::

        custom_hooks = [dict(type='NonFiniteLossHook', action='raise')]

    Args:
        action (str): ``'raise'`` or ``'skip'``.
    """

    priority = 'VERY_HIGH'

    def __init__(self, action: str = 'raise'):
        if action not in ('raise', 'skip'):
            raise ValueError(f"NonFiniteLossHook.action must be 'raise' or 'skip', got {action!r}")
        self.action = action
        self.skipped_iters = []

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        parse_losses = model.parse_losses
        hook = self

        def checked_parse_losses(losses):
            total, log_vars = parse_losses(losses)
            bad = {name: value for name, value in log_vars.items()
                   if name != 'loss' and not _finite(value)}
            if not _finite(total):
                bad['loss (total)'] = total
            if _any_rank(bool(bad)):
                message = hook._describe(bad, runner)
                if hook.action == 'raise':
                    raise NonFiniteLossError(message)
                runner.logger.warning(message + ' Skipping this optimizer step.')
                hook.skipped_iters.append(runner.iter + 1)
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

    @staticmethod
    def _describe(bad: Dict[str, torch.Tensor], runner) -> str:
        terms = ', '.join(f'{name}={float(value):.4g}' for name, value in bad.items()) \
            or 'a term on another rank'
        return (f'Non-finite loss at iteration {runner.iter + 1} (epoch {runner.epoch + 1}): '
                f'{terms}. The optimizer step was not taken, so the weights are unchanged.')


def _finite(value) -> bool:
    if isinstance(value, torch.Tensor):
        return bool(torch.isfinite(value.detach()).all())
    return math.isfinite(float(value))


def _any_rank(flag: bool) -> bool:
    """True on every rank if ``flag`` is True on any rank."""
    if not is_distributed():
        return flag
    tensor = torch.tensor([int(flag)], dtype=torch.int32)
    if torch_dist.get_backend() == 'nccl':
        tensor = tensor.cuda()
    torch_dist.all_reduce(tensor, op=torch_dist.ReduceOp.MAX)
    return bool(tensor.item())


def _zero_loss_of(model: torch.nn.Module) -> torch.Tensor:
    """A zero loss that touches every trainable parameter (finite zero gradients)."""
    return sum(p.sum() * 0. for p in model.parameters() if p.requires_grad)
