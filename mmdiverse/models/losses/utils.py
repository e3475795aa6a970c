"""Shared helpers of the regularizer losses: shape checks and fp32 compute.

Every regularizer computes its similarities / eigen estimates in at least
float32, even under AMP autocast: half-precision inputs are upcast, float64
inputs stay float64 (so the tests can compare against float64 references).
"""

import contextlib
from typing import Sequence

import torch


def check_rank(owner: str, name: str, tensor, layout: str) -> None:
    """Raise ``ValueError`` unless ``tensor`` is a tensor of rank ``layout``.

    Args:
        owner (str): Class or function name used in the message.
        name (str): Argument name used in the message, e.g. ``'tokens'``.
        tensor: The value to check.
        layout (str): Expected layout such as ``'(B, n, d)'``; its number of
            comma-separated entries is the expected rank.

    Raises:
        ValueError: e.g. ``PatchCosineLoss expects tokens of shape (B, n, d),
            got (2, 3)``.
    """
    ndim = layout.count(',') + 1
    if not torch.is_tensor(tensor):
        raise ValueError(f'{owner} expects {name} of shape {layout}, got {type(tensor).__name__}')
    if tensor.dim() != ndim:
        raise ValueError(f'{owner} expects {name} of shape {layout}, got {fmt_shape(tensor)}')


def check_same_batch(owner: str, names: Sequence[str], tensors: Sequence[torch.Tensor]) -> None:
    """Raise ``ValueError`` if the tensors differ in their first dimension."""
    if len({int(t.shape[0]) for t in tensors}) > 1:
        got = ', '.join(f'{n} {fmt_shape(t)}' for n, t in zip(names, tensors))
        raise ValueError(f'{owner} expects the same batch size B, got {got}')


def fmt_shape(tensor: torch.Tensor) -> str:
    """Format a shape as ``(2, 3)`` (``torch.Size`` prints verbosely)."""
    dims = tuple(int(s) for s in tensor.shape)
    return str(dims)


def compute_dtype(tensor: torch.Tensor) -> torch.dtype:
    """At least float32: fp16/bf16 -> float32, float64 stays float64."""
    if tensor.is_floating_point():
        return torch.promote_types(tensor.dtype, torch.float32)
    return torch.float32


def to_compute(tensor: torch.Tensor) -> torch.Tensor:
    """Cast ``tensor`` to :func:`compute_dtype` (no copy if already there)."""
    return tensor.to(compute_dtype(tensor))


def autocast_off(device: torch.device):
    """Context manager that disables autocast on ``device``'s type.

    Used around similarity and eigen computations so that matmuls are not
    silently rerouted to fp16/bf16 under AMP.
    """
    try:
        return torch.autocast(device_type=device.type, enabled=False)
    except RuntimeError:  # device types without autocast support
        return contextlib.nullcontext()


def normalize(x: torch.Tensor, eps: float) -> torch.Tensor:
    """``x / max(||x||, eps)`` along the last dim (a zero row stays zero).

    The gradient is finite for zero rows (the clamp cuts it).
    """
    return torch.nn.functional.normalize(x, p=2.0, dim=-1, eps=eps)
