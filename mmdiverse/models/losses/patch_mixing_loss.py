"""Patch-wise mixing loss: per-patch soft-target cross-entropy (Gong 2021)."""

import torch
from mmpretrain.registry import MODELS
from torch.autograd.function import once_differentiable

from .utils import autocast_off, check_rank, fmt_shape, to_compute

_CHUNK_BYTES = 8 * 2**20


class _SoftTargetCrossEntropy(torch.autograd.Function):
    r"""Per-row :math:`-\sum_k y_k \log\mathrm{softmax}(z)_k`, ``(M, K)``.

    Forward runs ``log_softmax`` over row blocks of ~8 MiB, so no ``(M, K)``
    temporary is made; backward writes
    :math:`\mathrm{softmax}(z) \sum_k y_k - y` into the one ``(M, K)``
    gradient buffer. Autograd through ``log_softmax`` would keep three
    ``(M, K)`` tensors.
    """

    @staticmethod
    def forward(ctx, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(logits, targets)
        rows = max(1, _CHUNK_BYTES // max(1, logits[0].nbytes))
        out = logits.new_empty(logits.shape[0])
        for start in range(0, logits.shape[0], rows):
            log_prob = torch.log_softmax(logits[start : start + rows], dim=-1)
            out[start : start + rows] = -torch.einsum(
                'mk,mk->m', targets[start : start + rows], log_prob
            )
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor):
        logits, targets = ctx.saved_tensors
        grad_out = grad_out.unsqueeze(-1)
        grad_logits = grad_targets = None
        if ctx.needs_input_grad[0]:
            grad_logits = torch.softmax(logits, dim=-1)
            grad_logits.mul_(targets.sum(dim=-1, keepdim=True) * grad_out)
            grad_logits.addcmul_(targets, grad_out, value=-1)
        if ctx.needs_input_grad[1]:
            grad_targets = torch.log_softmax(logits, dim=-1).neg_()
            grad_targets.mul_(grad_out)
        return grad_logits, grad_targets


def patch_mixing_loss(
    patch_logits: torch.Tensor, patch_targets: torch.Tensor, reduction: str = 'mean'
) -> torch.Tensor:
    r"""Soft-target cross-entropy of every patch, vectorized over patches.

    .. math::
        \frac{1}{n}\sum_i -\sum_k y_{ik} \log \mathrm{softmax}(z_i)_k

    Args:
        patch_logits (Tensor): ``(B, n, K)`` classifier-head logits of each
            patch token.
        patch_targets (Tensor): ``(B, n, K)`` soft targets (rows sum to 1).
        reduction (str): ``'mean'`` over images (scalar) or ``'none'``
            (``(B,)``, mean over each image's patches).

    Returns:
        Tensor: float32 (float64 for float64 logits) loss.
    """
    owner = 'patch_mixing_loss'
    check_rank(owner, 'patch_logits', patch_logits, '(B, n, K)')
    check_rank(owner, 'patch_targets', patch_targets, '(B, n, K)')
    if patch_logits.shape != patch_targets.shape:
        raise ValueError(
            f'{owner} expects patch_logits and patch_targets of '
            f'the same shape (B, n, K), got patch_logits '
            f'{fmt_shape(patch_logits)} and patch_targets '
            f'{fmt_shape(patch_targets)}'
        )
    if reduction not in ('mean', 'none'):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    batch, n, classes = patch_logits.shape
    if patch_logits.numel() == 0:
        raise ValueError(f'{owner} expects non-empty inputs, got {fmt_shape(patch_logits)}')
    with autocast_off(patch_logits.device):
        logits = to_compute(patch_logits)
        targets = patch_targets.to(logits.dtype)
        per_patch = _SoftTargetCrossEntropy.apply(
            logits.reshape(-1, classes), targets.reshape(-1, classes)
        )
        per_image = per_patch.view(batch, n).mean(dim=1)
    return per_image.mean() if reduction == 'mean' else per_image


#: ``PatchMixingLoss.composition`` values (docs/fidelity.md).
COMPOSITIONS = ('separate', 'token_mean')


@MODELS.register_module()
class PatchMixingLoss(torch.nn.Module):
    r"""Patch-wise mixing loss.

    The inputs are mixed CutMix-style; every patch token goes through the
    classifier head and is trained on its own soft target :math:`y_i` (the
    share of its area taken from each source image). Per image, then averaged
    over the batch, with ``composition='separate'`` (default):

    .. math::
        L_{mix} = w \frac{1}{n}\sum_{i=1}^{n}
            -\sum_k y_{ik}\log\mathrm{softmax}(\mathrm{head}(h_i^L))_k

    and the classifier adds the head's class-token CE unchanged. With
    ``composition='token_mean'`` (Diverse-ViT, Chen et al. 2022) the loss is
    the patch part of the mean over all ``N = n + 1`` tokens,
    :math:`w \frac{1}{n + 1}\sum_{i=1}^{n} CE_i`, and the classifier weights
    the class-token CE by :meth:`class_token_weight` ``= w / (n + 1)``, so the
    two logged keys add up to :math:`w (CE_{cls} + \sum_i CE_i) / (n + 1)`.

    Vectorized over patches (no loop over them); the gradient is written
    straight into one ``(B, n, K)`` buffer, so the extra memory is about one
    logits-sized tensor. Runs in at least float32 with autocast off.
    Targets are not checked to sum to 1 (that would cost a device sync each
    step); for other targets the formula above is still what is computed.

    Paper: `Vision Transformers with Patch Diversification
    <https://arxiv.org/abs/2104.12753>`_.

    Args:
        loss_weight (float): Multiplier :math:`w` of the loss.
            Defaults to 1.0.
        composition (str): ``'separate'`` or ``'token_mean'`` (see above).
            Defaults to ``'separate'``.
    """

    def __init__(self, loss_weight: float = 1.0, composition: str = 'separate') -> None:
        super().__init__()
        if composition not in COMPOSITIONS:
            raise ValueError(
                f'PatchMixingLoss.composition={composition!r}: expected one of {list(COMPOSITIONS)}'
            )
        self.loss_weight = loss_weight
        self.composition = composition

    def class_token_weight(self, num_patches: int) -> float:
        """Weight of the head's class-token CE next to this loss:
        1 (``'separate'``) or ``loss_weight / (n + 1)`` (``'token_mean'``)."""
        if self.composition == 'separate':
            return 1.0
        return self.loss_weight / (num_patches + 1)

    def forward(self, patch_logits: torch.Tensor, patch_targets: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Args:
            patch_logits (Tensor): ``(B, n, K)`` per-patch logits.
            patch_targets (Tensor): ``(B, n, K)`` per-patch soft targets.

        Returns:
            Tensor: Scalar loss, already multiplied by ``loss_weight``.
        """
        owner = type(self).__name__
        check_rank(owner, 'patch_logits', patch_logits, '(B, n, K)')
        check_rank(owner, 'patch_targets', patch_targets, '(B, n, K)')
        if patch_logits.shape != patch_targets.shape:
            raise ValueError(
                f'{owner} expects patch_logits and '
                f'patch_targets of the same shape (B, n, K), got '
                f'patch_logits {fmt_shape(patch_logits)} and '
                f'patch_targets {fmt_shape(patch_targets)}'
            )
        mean = patch_mixing_loss(patch_logits, patch_targets)
        if self.composition == 'token_mean':
            n = patch_logits.shape[1]
            return (self.loss_weight * n / (n + 1)) * mean
        return self.loss_weight * mean

    def extra_repr(self) -> str:
        return f'loss_weight={self.loss_weight}, composition={self.composition!r}'
