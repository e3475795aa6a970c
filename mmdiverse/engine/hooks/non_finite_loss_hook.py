"""Stop (or skip) a training step whose loss or gradients are NaN or Inf."""

import math
from functools import partial
from typing import Dict, List, Optional

import torch
import torch.distributed as torch_dist
from mmengine.dist import is_distributed
from mmengine.hooks import Hook
from mmengine.logging import MMLogger
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmengine.registry import HOOKS
from mmpretrain.utils import get_ori_model
from torch.nn.utils import get_total_norm

from .non_finite_checks import (
    NonFiniteCheckpointError,
    NonFiniteError,
    NonFiniteGradientError,
    NonFiniteLossError,
    describe_gradients,
    describe_loss_terms,
    is_finite,
    non_finite_buffers,
    non_finite_gradients,
    non_finite_tensors,
)

__all__ = [
    'NonFiniteLossHook',
    'NonFiniteError',
    'NonFiniteLossError',
    'NonFiniteGradientError',
    'NonFiniteCheckpointError',
]


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Keep NaN and Inf out of the weights and the checkpoints.

    mmengine sums the ``loss*`` terms, back-propagates and steps the optimizer
    whatever their values, so one NaN in a regularizer (or one exploding step)
    silently turns every weight into NaN, and gradient clipping by an infinite
    norm zeroes every update. Through torch's extension points only (nothing
    of the model or the optimizer wrapper is replaced), this hook checks:

    * **loss terms**: a forward hook on the model keeps the ``loss*`` terms of
      each training forward (``mode='loss'``);
    * **gradients**: an optimizer step pre-hook, after back-propagation and
      before the optimizer applies them, checks the terms and the total
      gradient norm in **one host read per step**. Under ``clip_grad`` the
      norms are taken before clipping (a gradient hook of each parameter),
      since clipping by a NaN or Inf norm hides which gradient it was;
    * **checkpoints**, before each is written: a NaN/Inf tensor anywhere in
      it (weights, buffers, optimizer state) refuses the save, so the last
      checkpoint on disk is always finite. Buffers that were non-finite
      before training (masks of ``-inf``) are allowed.

    On a bad loss or gradient:

    * ``action='raise'`` (default): stops the run with
      :class:`NonFiniteLossError` / :class:`NonFiniteGradientError` naming the
      terms or parameters and the iteration, before the optimizer step;
    * ``action='skip'``: logs the same message and skips the optimizer step
      (the gradients are dropped; under DDP every rank skips together). More
      than ``max_consecutive_skips`` skipped steps in a row stop the run with
      the error of the last one: a run that keeps skipping is not training.

    With ``AmpOptimWrapper`` the loss scaler skips steps with Inf/NaN
    gradients itself (and lowers the scale): those steps never reach the
    optimizer. The hook then names a non-finite loss term the same way, and
    bounds the scaler's skipped steps in a row by ``max_consecutive_skips``.

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

    def __init__(
        self,
        action: str = 'raise',
        max_consecutive_skips: int = 3,
        check_gradients: bool = True,
        check_checkpoints: bool = True,
    ):
        if action not in ('raise', 'skip'):
            raise ValueError(f"NonFiniteLossHook.action must be 'raise' or 'skip', got {action!r}")
        if not isinstance(max_consecutive_skips, int) or max_consecutive_skips < 0:
            raise ValueError(
                'NonFiniteLossHook.max_consecutive_skips must be an int >= 0, got '
                f'{max_consecutive_skips!r}'
            )
        self.action = action
        self.max_consecutive_skips = max_consecutive_skips
        self.check_gradients = check_gradients
        self.check_checkpoints = check_checkpoints
        self.skipped_iters: List[int] = []
        self._consecutive = 0
        self._allowed_non_finite = set()
        self._names: Dict[int, str] = {}
        self._handles = []
        self._terms: List[Dict[str, torch.Tensor]] = []  # the forwards since the last step
        self._stepped = False
        self._iteration, self._epoch = 0, 0
        self._grad_norms: Dict[int, torch.Tensor] = {}  # before clipping, of this step
        self._wrappers: List[OptimWrapper] = []

    # ------------------------------------------------------------ set-up
    def before_train(self, runner) -> None:
        model = get_ori_model(runner.model)
        self._allowed_non_finite = non_finite_buffers(model.named_buffers())
        self.watch(runner.model, _optim_wrappers(runner.optim_wrapper))

    def watch(self, model: torch.nn.Module, wrappers: List[OptimWrapper]) -> None:
        """Register the forward hook on ``model`` and a step pre-hook on each optimizer."""
        self._remove_handles()
        self._names = {id(p): name for name, p in get_ori_model(model).named_parameters()}
        self._handles.append(model.register_forward_hook(self._record_losses, with_kwargs=True))
        self._grad_norms = {}
        for wrapper in wrappers:
            self._handles.append(
                wrapper.optimizer.register_step_pre_hook(partial(self._before_step, wrapper))
            )
            if (
                self.check_gradients
                and getattr(wrapper, 'clip_grad_kwargs', None)
                and not _has_loss_scaler(wrapper)
            ):
                self._handles += [
                    p.register_post_accumulate_grad_hook(self._record_grad_norm)
                    for p in _params(wrapper.optimizer)
                    if p.requires_grad
                ]
        self._wrappers = wrappers

    def after_train(self, runner) -> None:
        self._remove_handles()

    def _remove_handles(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self._iteration, self._epoch = runner.iter + 1, runner.epoch + 1
        self._stepped = False

    # ------------------------------------------------------------ checks
    def _record_losses(self, module, args, kwargs, output) -> None:
        """Forward hook: keep the ``loss*`` terms of a training forward (no host read)."""
        if kwargs.get('mode') != 'loss' or not isinstance(output, dict):
            return
        terms = {}
        for name, value in output.items():
            if 'loss' not in name:
                continue
            if isinstance(value, torch.Tensor):
                terms[name] = value.detach().float().mean()
            elif isinstance(value, (list, tuple)):
                terms[name] = sum(v.detach().float().mean() for v in value)
        self._terms.append(terms)

    def _record_grad_norm(self, param: torch.Tensor) -> None:
        """Gradient hook: the norm of ``param``'s gradient before any clipping."""
        self._grad_norms[id(param)] = torch.linalg.vector_norm(param.grad.detach().float())

    def _loss_flag(self) -> Optional[torch.Tensor]:
        values = [v.reshape(()) for terms in self._terms for v in terms.values()]
        return torch.isfinite(torch.stack(values)).all() if values else None

    def _before_step(self, wrapper: OptimWrapper, optimizer, args, kwargs) -> None:
        """Optimizer step pre-hook: one host read for the loss terms and the gradients."""
        self._stepped = True
        params = _params(optimizer)
        grad_flag, norms = None, None
        if self.check_gradients and not _has_loss_scaler(wrapper):
            norms = {id(p): self._grad_norms[id(p)] for p in params if id(p) in self._grad_norms}
            if norms:  # taken before clipping
                grad_flag = torch.isfinite(get_total_norm(list(norms.values())))
            else:
                grads = [p.grad.detach() for p in params if p.grad is not None]
                grad_flag = torch.isfinite(get_total_norm(grads)) if grads else None
        self._grad_norms = {}
        loss_ok, grad_ok = _read_flags(self._loss_flag(), grad_flag)
        if loss_ok and grad_ok:
            self._terms = []
            return
        if not loss_ok:
            error, message = NonFiniteLossError, self._loss_message()
        else:
            error, message = NonFiniteGradientError, self._gradient_message(params, norms)
        self._terms = []
        self._skip_or_raise(error, message)
        for p in params:  # skip: the optimizer leaves parameters without a gradient alone
            p.grad = None

    def _loss_message(self) -> str:
        bad = {
            name: value
            for terms in self._terms
            for name, value in terms.items()
            if not is_finite(value)
        }
        return f'Non-finite loss {self._where()}: {describe_loss_terms(bad)}.'

    def _gradient_message(self, params, norms: Optional[Dict[int, torch.Tensor]]) -> str:
        if norms:  # before clipping
            named = [
                (self._names.get(id(p), f'<unnamed {tuple(p.shape)}>'), float(norms[id(p)]))
                for p in params
                if id(p) in norms
            ]
            bad = [(n, v) for n, v in named if not math.isfinite(v)] or sorted(
                named, key=lambda item: -item[1]
            )[:10]
            return (
                f'Non-finite gradient {self._where()} (norms before clipping): '
                f'{describe_gradients(bad)}.'
            )
        return (
            f'Non-finite gradient {self._where()}: '
            f'{describe_gradients(non_finite_gradients(params, self._names))}.'
        )

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        scaler = any(_has_loss_scaler(w) for w in self._wrappers)
        updated = any(_updated(w) for w in self._wrappers)
        if scaler and updated and not self._stepped:
            self._loss_scaler_skipped()  # the scaler found Inf/NaN gradients
        elif self._stepped and self.skipped_iters[-1:] != [self._iteration]:
            self._consecutive = 0  # this iteration's step was taken

    def _loss_scaler_skipped(self) -> None:
        flag = self._loss_flag()
        if flag is not None and not bool(flag):  # a read only on a skipped step
            message = self._loss_message()
            self._terms = []
            self._skip_or_raise(NonFiniteLossError, message)
            return
        self._terms = []
        self._consecutive += 1
        self.skipped_iters.append(self._iteration)
        if self._consecutive > self.max_consecutive_skips:
            raise NonFiniteGradientError(
                f'The AMP loss scaler skipped {self._consecutive} steps in a row '
                f'{self._where()} (non-finite gradients; '
                f'max_consecutive_skips={self.max_consecutive_skips}).'
            )

    # ------------------------------------------------------------ actions
    def _skip_or_raise(self, error: type, message: str) -> None:
        if self.action == 'raise':
            raise error(
                message + ' The optimizer step was not taken, so the weights are unchanged.'
            )
        self._consecutive += 1
        self.skipped_iters.append(self._iteration)
        if self._consecutive > self.max_consecutive_skips:
            raise error(
                f'{message} {self._consecutive} optimizer steps in a row were skipped '
                f'(NonFiniteLossHook.max_consecutive_skips='
                f'{self.max_consecutive_skips}): the run is not training; stopping.'
            )
        MMLogger.get_current_instance().warning(message + ' Skipping this optimizer step.')

    def _where(self) -> str:
        return f'at iteration {self._iteration} (epoch {self._epoch})'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if not self.check_checkpoints:
            return
        bad = non_finite_tensors(checkpoint, self._allowed_non_finite)
        if bad:
            more = f' and {len(bad) - 10} more' if len(bad) > 10 else ''
            self._iteration, self._epoch = runner.iter + 1, runner.epoch + 1
            raise NonFiniteCheckpointError(
                f'Refusing to save the checkpoint {self._where()}: non-finite tensors '
                f'{", ".join(bad[:10])}{more}. The checkpoints already on disk are finite.'
            )


def _optim_wrappers(optim_wrapper) -> List[OptimWrapper]:
    if isinstance(optim_wrapper, OptimWrapperDict):
        return list(optim_wrapper.values())
    return [optim_wrapper]


def _has_loss_scaler(wrapper) -> bool:
    """An ``AmpOptimWrapper`` (its GradScaler skips non-finite steps itself)."""
    return getattr(wrapper, 'loss_scaler', None) is not None


def _updated(wrapper) -> bool:
    """Whether the last ``update_params`` was meant to step (no accumulation left)."""
    try:
        return bool(wrapper.should_update())
    except (AttributeError, TypeError):
        return True


def _params(optimizer) -> List[torch.Tensor]:
    return [p for group in optimizer.param_groups for p in group['params']]


def _read_flags(loss_flag: Optional[torch.Tensor], grad_flag: Optional[torch.Tensor]):
    """``(loss finite, gradients finite)`` on every rank, in one host read."""
    present = [f for f in (loss_flag, grad_flag) if f is not None]
    if not present and not is_distributed():
        return True, True
    device = present[0].device if present else torch.device('cpu')
    flags = torch.stack(
        [
            (f if f is not None else torch.ones((), dtype=torch.bool, device=device)).to(device)
            for f in (loss_flag, grad_flag)
        ]
    ).to(torch.int32)
    if is_distributed():  # a bad flag on any rank makes every rank skip (or stop)
        if torch_dist.get_backend() == 'nccl':
            flags = flags.cuda()
        torch_dist.all_reduce(flags, op=torch_dist.ReduceOp.MIN)
    loss_ok, grad_ok = flags.tolist()
    return bool(loss_ok), bool(grad_ok)
