"""Finiteness checks of loss terms, gradients and checkpoints (used by NonFiniteLossHook)."""

import math
from typing import Dict, Iterable, List, Mapping, Sequence, Set, Tuple

import torch
from torch.nn.utils import get_total_norm

MAX_NAMED = 10  # parameters / tensors named in one message


class NonFiniteError(FloatingPointError):
    """Base class: a NaN or Inf stopped the run before it reached the weights."""


class NonFiniteLossError(NonFiniteError):
    """A loss term was NaN or Inf; the optimizer step was not taken."""


class NonFiniteGradientError(NonFiniteError):
    """A gradient (or the total gradient norm) was NaN or Inf; the optimizer
    step was not taken."""


class NonFiniteCheckpointError(NonFiniteError):
    """A checkpoint about to be saved held a NaN or Inf tensor; it was not saved."""


def is_finite(value) -> bool:
    """Whether a tensor (every element) or a number is finite."""
    if isinstance(value, torch.Tensor):
        return bool(torch.isfinite(value.detach()).all())
    return math.isfinite(float(value))


def non_finite_gradients(
    params: Sequence[torch.nn.Parameter], names: Mapping[int, str]
) -> List[Tuple[str, float]]:
    """The parameters whose gradient makes the step non-finite, with their grad norms.

    The fast path is one total 2-norm over every gradient (what gradient
    clipping computes): it is finite exactly when every gradient element is
    finite and the squares do not overflow. Only when it is not are the
    per-parameter norms computed. A NaN/Inf element makes its parameter's norm
    NaN/Inf; when every parameter's norm is finite but the total overflows
    (e.g. a loss weight of 1e30), the parameters with the largest norms are
    reported, since together they make clipping divide by Inf (a zero update).

    Args:
        params: The parameters the optimizer steps (those without ``grad``
            are ignored).
        names: ``id(param) -> name`` (``model.named_parameters()``).

    Returns:
        list[tuple[str, float]]: ``(name, grad norm)`` pairs; empty when the
        gradients are finite.
    """
    with_grad = [p for p in params if p.grad is not None]
    if not with_grad:
        return []
    grads = [p.grad.detach() for p in with_grad]
    if bool(torch.isfinite(get_total_norm(grads))):
        return []
    norms = [float(get_total_norm([g])) for g in grads]
    named = [(names.get(id(p), f'<unnamed {tuple(p.shape)}>'), n) for p, n in zip(with_grad, norms)]
    bad = [(name, n) for name, n in named if not math.isfinite(n)]
    if bad:
        return bad
    return sorted(named, key=lambda item: -item[1])[:MAX_NAMED]


def describe_gradients(bad: List[Tuple[str, float]]) -> str:
    """``'a.weight (grad norm nan), b.bias (grad norm inf)'``, at most MAX_NAMED of them."""
    shown = ', '.join(f'{name} (grad norm {norm:.4g})' for name, norm in bad[:MAX_NAMED])
    more = len(bad) - MAX_NAMED
    return shown + (f' and {more} more' if more > 0 else '')


def non_finite_tensors(tree, allowed: Set[str] = frozenset(), prefix: str = '') -> List[str]:
    """Dotted paths of the floating-point tensors in ``tree`` holding NaN or Inf.

    Args:
        tree: Nested dicts / lists / tuples (a checkpoint).
        allowed: Names that may be non-finite (e.g. a ``-inf`` attention mask
            buffer); a path ending in one of them is not reported.
        prefix: Path of ``tree`` itself.

    Returns:
        list[str]: e.g. ``['state_dict.head.fc.weight', 'optimizer.state.3.exp_avg']``.
    """
    found = []
    if isinstance(tree, torch.Tensor):
        if (
            (tree.is_floating_point() or tree.is_complex())
            and not is_finite(tree)
            and not any(prefix == a or prefix.endswith('.' + a) for a in allowed)
        ):
            found.append(prefix)
    elif isinstance(tree, Mapping):
        for key, value in tree.items():
            found += non_finite_tensors(value, allowed, f'{prefix}.{key}' if prefix else str(key))
    elif isinstance(tree, (list, tuple)):
        for index, value in enumerate(tree):
            found += non_finite_tensors(
                value, allowed, f'{prefix}.{index}' if prefix else str(index)
            )
    return found


def non_finite_buffers(named_buffers: Iterable[Tuple[str, torch.Tensor]]) -> Set[str]:
    """Names of buffers that are non-finite by design (before any training step)."""
    return {
        name
        for name, buf in named_buffers
        if (buf.is_floating_point() or buf.is_complex()) and not is_finite(buf)
    }


def describe_loss_terms(bad: Dict[str, torch.Tensor]) -> str:
    """``'loss_x=nan, loss (total)=inf'``, or that another rank had the bad term."""
    return (
        ', '.join(f'{name}={float(value):.4g}' for name, value in bad.items())
        or 'a term on another rank'
    )
