"""Capture attention probabilities of chosen blocks without editing sources.

Three mechanisms, one per attention implementation, each installed only for
the blocks whose attention is regularized and only inside a tap's
``capture()``; every other block keeps its stock (fused) path:

* mmpretrain :class:`MultiheadAttention` calls ``self.scaled_dot_product_
  attention`` (an *instance* attribute holding ``F.scaled_dot_product_
  attention``, or mmpretrain's Python fallback when ``qk_scale`` is set).
  The instance attribute is swapped for :func:`explicit_attention`, which
  computes ``softmax(q k^T * scale)`` explicitly, hands the probabilities to
  the tap and returns ``probs @ v``. The module's own ``qkv`` projection,
  output projection, dropouts and layer scale run unchanged, so q, k and v
  are computed once. Outputs equal the fused path up to float rounding.
  The probabilities are computed and stored in float32.
* mmpretrain :class:`WindowMSA` (Swin) already computes attention
  explicitly through its ``softmax`` submodule: a forward hook on it reads
  the probabilities (no extra compute at all).
* timm ``Attention`` has a ``fused_attn`` switch whose unfused branch does
  ``attn_drop(softmax(q k^T * scale))``: the switch is turned off for the
  chosen blocks and a pre-hook on ``attn_drop`` reads the probabilities.

Swin and timm probabilities have the dtype of the stock ``softmax`` (float32
under CUDA autocast, which runs softmax in float32; bfloat16 under CPU
autocast); the attention-diversity loss computes in float32 either way.
The capture reads no tensor value on the host (no ``.item()``, no Python
``if`` on a tensor): it adds no device synchronisation.
"""

import functools
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

Store = Callable[[torch.Tensor], None]


def _sdpa_semantics(original: Callable):
    """How ``original`` scales ``q k^T``: ``('mul', s)`` or ``('div', s)``.

    ``s`` is ``None`` when it depends on the head width (filled per call).
    """
    from mmpretrain.models.utils.attention import scaled_dot_product_attention_pyimpl as pyimpl

    if original is F.scaled_dot_product_attention:
        return 'mul', None
    if original is pyimpl:
        return 'div', None
    if isinstance(original, functools.partial) and original.func is pyimpl:
        # mmpretrain's fallback divides by ``scale`` (its default is
        # sqrt(head_dim)); with ``qk_scale`` set, MultiheadAttention binds
        # scale=head_dim**-0.5. Reproduce the stock numbers exactly.
        return 'div', original.keywords.get('scale')
    raise TypeError(
        f'cannot capture attention: unsupported scaled_dot_product_attention {original!r}'
    )


def explicit_attention(original: Callable, store: Store) -> Callable:
    """A drop-in for ``original`` (an SDPA function) that exposes the
    attention probabilities through ``store``.

    Args:
        original (callable): ``F.scaled_dot_product_attention`` or
            mmpretrain's ``scaled_dot_product_attention_pyimpl`` (possibly a
            ``functools.partial`` of it).
        store (callable): Receives the ``(B, H, N, N)`` probabilities (before
            attention dropout, with their autograd graph), in float32
            whatever the dtype of ``query`` (autocast included).
    """
    mode, fixed = _sdpa_semantics(original)

    def attention(
        query, key, value, attn_mask=None, dropout_p=0.0, scale=None, is_causal=False, **kwargs
    ):
        if attn_mask is not None or is_causal or kwargs:
            raise NotImplementedError('attention capture supports unmasked self-attention only')
        if mode == 'mul':
            s = scale if scale is not None else query.size(-1) ** -0.5
            logits = (query * s) @ key.transpose(-2, -1)
        else:
            s = scale or fixed or query.size(-1) ** 0.5
            logits = query @ key.transpose(-2, -1) / s
        # float32 softmax (what CUDA autocast does for softmax anyway): the
        # stored probabilities are float32 under bf16 / fp16 autocast too.
        probs = logits.softmax(dim=-1, dtype=torch.float32)
        store(probs)
        weights = probs.to(value.dtype)
        if dropout_p > 0:
            weights = F.dropout(weights, dropout_p, training=True)
        return weights @ value

    attention.original = original
    return attention


def capture_mmpretrain_mha(module: nn.Module, store: Store) -> Callable:
    """Swap ``module.scaled_dot_product_attention`` for the explicit version.

    Returns:
        callable: Restores the stock attribute.
    """
    original = module.__dict__.get('scaled_dot_product_attention')
    if original is None:
        raise TypeError(
            f'{type(module).__name__} has no instance attribute `scaled_dot_product_attention`'
        )
    module.scaled_dot_product_attention = explicit_attention(original, store)

    def restore():
        module.scaled_dot_product_attention = original

    return restore


def check_mmpretrain_mha(module: nn.Module, where: str) -> None:
    """Raise ``ValueError`` unless :func:`capture_mmpretrain_mha` applies."""
    from mmpretrain.models.utils.attention import MultiheadAttention

    if type(module) is not MultiheadAttention:
        raise ValueError(
            f'{where}: attention capture supports mmpretrain '
            f'MultiheadAttention, got {type(module).__name__}'
        )
    _sdpa_semantics(module.__dict__.get('scaled_dot_product_attention'))


def capture_window_msa(window_msa: nn.Module, store: Store) -> Callable:
    """Forward hook on a Swin ``WindowMSA.softmax``; returns the remover."""
    handle = window_msa.softmax.register_forward_hook(lambda _module, _args, output: store(output))
    return handle.remove


def check_window_msa(window_msa: nn.Module, where: str) -> None:
    if not isinstance(getattr(window_msa, 'softmax', None), nn.Softmax):
        raise ValueError(
            f'{where}: attention capture needs a window '
            'attention with a `softmax` submodule (mmpretrain '
            f'WindowMSA), got {type(window_msa).__name__}'
        )


def capture_timm_attention(attn: nn.Module, store: Store) -> Callable:
    """Unfuse one timm ``Attention`` and read ``attn_drop``'s input."""
    fused = attn.fused_attn
    attn.fused_attn = False
    handle = attn.attn_drop.register_forward_pre_hook(lambda _module, args: store(args[0]))

    def restore():
        handle.remove()
        attn.fused_attn = fused

    return restore


def check_timm_attention(attn: nn.Module, where: str) -> None:
    if not (
        hasattr(attn, 'fused_attn') and isinstance(getattr(attn, 'attn_drop', None), nn.Module)
    ):
        raise ValueError(
            f'{where}: attention capture needs a timm attention '
            'with `fused_attn` and an `attn_drop` module, got '
            f'{type(attn).__name__}'
        )
