"""Patch-wise cosine similarity regularizer (Gong et al. 2021)."""

import torch
from mmpretrain.registry import MODELS
from torch.autograd.function import once_differentiable

from .utils import autocast_off, check_rank, normalize, to_compute

_REDUCTIONS = ('mean', 'none')


def _rows_per_chunk(batch: int, n: int, elem_size: int, max_chunk_mib: float) -> int:
    """Rows of the ``(B, rows, n)`` similarity block that fit the budget."""
    budget = int(max_chunk_mib * 2**20)
    return max(1, min(n, budget // max(1, batch * n * elem_size)))


class _OffDiagAbsGramSum(torch.autograd.Function):
    """``S_b = sum_{i != j} |x_bi . x_bj|`` for ``x`` of shape ``(B, n, d)``.

    Both passes walk over row blocks ``R = [s, e)`` of the upper triangle of
    the Gram matrix ``G`` (columns ``[s, n)``), so the extra memory is one
    ``(B, rows, n)`` block, also in backward: backward recomputes each block
    instead of keeping it (autograd through a chunked loop would keep every
    block alive). By symmetry, ``S = sum_R (|G_RR|_offdiag + 2 |G_RC|)``
    with ``C = [e, n)``, and ``dS/dx_i = 2 sum_{j != i} sign(G_ij) x_j``
    (``sign(0) = 0``, the subgradient ``torch.abs`` uses too), where the
    ``j < s`` part comes from the transposed blocks of earlier rows. Cost
    per image: ``n^2 d / 2`` multiply-adds forward (half the full product)
    and ``1.5 n^2 d`` backward (recompute plus two products).

    When the whole ``(B, n, n)`` matrix fits in one block (ViT-scale ``n``)
    its signs are kept for backward instead, and nothing is recomputed.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, rows: int) -> torch.Tensor:
        ctx.rows = rows
        n = x.shape[1]
        if rows >= n:  # the whole matrix fits the budget: keep its signs
            with autocast_off(x.device):
                signs = torch.bmm(x, x.transpose(1, 2))
                signs.diagonal(dim1=1, dim2=2).zero_()
                total = torch.linalg.vector_norm(signs, ord=1, dim=(1, 2))
                ctx.save_for_backward(x, signs.sign_())
            return total
        ctx.save_for_backward(x)
        total = torch.zeros(x.shape[0], dtype=torch.float64, device=x.device)
        with autocast_off(x.device):
            for start in range(0, n, rows):
                size = min(rows, n - start)
                # (B, size, n - start): square part then the strict upper part
                block = torch.bmm(x[:, start : start + size], x[:, start:].transpose(1, 2))
                block.diagonal(dim1=1, dim2=2).zero_()
                block.abs_()
                total += block[:, :, :size].sum(dim=(1, 2)).double()
                total += 2 * block[:, :, size:].sum(dim=(1, 2)).double()
        return total.to(x.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor):
        rows, n = ctx.rows, ctx.saved_tensors[0].shape[1]
        scale = 2 * grad_out.view(-1, 1, 1)
        if rows >= n:
            x, signs = ctx.saved_tensors
            with autocast_off(x.device):
                return torch.bmm(signs, x).mul_(scale.to(x.dtype)), None
        (x,) = ctx.saved_tensors
        grad = torch.zeros_like(x)
        with autocast_off(x.device):
            for start in range(0, n, rows):
                size = min(rows, n - start)
                stop = start + size
                block = torch.bmm(x[:, start:stop], x[:, start:].transpose(1, 2))
                block.sign_()
                block.diagonal(dim1=1, dim2=2).zero_()
                grad[:, start:stop] += torch.bmm(block, x[:, start:])
                if stop < n:
                    grad[:, stop:] += torch.bmm(
                        block[:, :, size:].transpose(1, 2), x[:, start:stop]
                    )
            grad.mul_(scale.to(x.dtype))
        return grad, None


def patch_cosine_similarity(
    tokens: torch.Tensor,
    absolute: bool = True,
    eps: float = 1e-8,
    reduction: str = 'mean',
    max_chunk_mib: float = 64.0,
) -> torch.Tensor:
    r"""Mean pairwise cosine similarity of patch tokens, per image.

    With :math:`\hat h_i = h_i / \max(\|h_i\|, \epsilon)`:

    - ``absolute=True``:
      :math:`\frac{1}{n(n-1)} \sum_{i \ne j} |\hat h_i \cdot \hat h_j|`,
      defined as 0 for ``n = 1`` (no pairs). Computed in row blocks of at most
      ``max_chunk_mib`` MiB (forward and backward), so the ``n x n`` matrix
      never exists at once: at ``B=2, n=16384, d=192`` (Swin stage 1 at
      512 px) forward + backward take ~185 MiB of extra CPU memory with
      the default budget, where the ``n x n`` autograd graph needs ~8 GiB.
    - ``absolute=False``: the signed mean over all ``i, j`` including the
      diagonal, :math:`\frac{1}{n^2} \|\sum_i \hat h_i\|^2`, an ``O(n d)``
      identity (no ``n x n`` matrix). For ``n = 1`` this is
      :math:`\|\hat h_1\|^2` (1, or 0 for a zero token).

    Zero tokens have :math:`\hat h = 0`: they count as orthogonal to all
    others and their gradient is finite. Runs in (at least) float32 with
    autocast disabled.

    Papers: `Vision Transformers with Patch Diversification
    <https://arxiv.org/abs/2104.12753>`_ (Gong et al. 2021); the signed form
    is used by Chen et al. 2022 (https://arxiv.org/abs/2203.06345).

    Args:
        tokens (Tensor): Patch tokens ``(B, n, d)``, class / distillation
            tokens removed.
        absolute (bool): Absolute off-diagonal mean, or signed mean over all
            pairs. Defaults to True.
        eps (float): Norm clamp of the normalization. Defaults to 1e-8.
        reduction (str): ``'mean'`` over the batch (scalar) or ``'none'``
            (shape ``(B,)``). Defaults to ``'mean'``.
        max_chunk_mib (float): Memory budget of one similarity block of the
            absolute form. Defaults to 64.

    Returns:
        Tensor: Scalar (or ``(B,)``) of dtype float32 (float64 for float64
        input) on the input's device.
    """
    check_rank('patch_cosine_similarity', 'tokens', tokens, '(B, n, d)')
    if reduction not in _REDUCTIONS:
        raise ValueError(f'reduction must be one of {_REDUCTIONS}, got {reduction!r}')
    batch, n, _ = tokens.shape
    if batch == 0 or n == 0:
        raise ValueError(
            'patch_cosine_similarity expects at least one image '
            f'and one token, got {tuple(tokens.shape)}'
        )
    with autocast_off(tokens.device):
        x = normalize(to_compute(tokens), eps)
        if not absolute:
            per_image = x.sum(dim=1).pow(2).sum(dim=-1) / (n * n)
        elif n == 1:
            per_image = x.sum(dim=(1, 2)) * 0.0  # no pairs; keeps the graph
        else:
            rows = _rows_per_chunk(batch, n, x.element_size(), max_chunk_mib)
            per_image = _OffDiagAbsGramSum.apply(x, rows) / (n * (n - 1))
    return per_image.mean() if reduction == 'mean' else per_image


@MODELS.register_module()
class PatchCosineLoss(torch.nn.Module):
    r"""Patch-wise cosine similarity loss (penalizes over-smoothed tokens).

    For the patch tokens :math:`h \in R^{B \times n \times d}` of the last
    block and :math:`\hat h_i = h_i / \max(\|h_i\|, \epsilon)`, per image and
    then averaged over the batch:

    .. math::
        L_{cos} = \frac{1}{n(n-1)} \sum_{i \ne j} |\hat h_i \cdot \hat h_j|

    or with ``absolute=False`` the signed mean over all pairs including the
    diagonal, :math:`\frac{1}{n^2}\|\sum_i \hat h_i\|^2` (Chen et al. 2022,
    https://arxiv.org/abs/2203.06345). See :func:`patch_cosine_similarity`
    for the memory bound, ``n = 1`` and zero-token behaviour.

    Paper: `Vision Transformers with Patch Diversification
    <https://arxiv.org/abs/2104.12753>`_.

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        absolute (bool): Absolute off-diagonal (True) or signed mean.
            Defaults to True.
        eps (float): Norm clamp. Defaults to 1e-8.
        max_chunk_mib (float): Memory budget of one similarity block of the
            absolute form (forward and backward). Defaults to 64.
    """

    def __init__(
        self,
        loss_weight: float = 1.0,
        absolute: bool = True,
        eps: float = 1e-8,
        max_chunk_mib: float = 64.0,
    ) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.absolute = absolute
        self.eps = eps
        self.max_chunk_mib = max_chunk_mib

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Args:
            tokens (Tensor): Patch tokens ``(B, n, d)``.

        Returns:
            Tensor: Scalar loss, already multiplied by ``loss_weight``.
        """
        check_rank(type(self).__name__, 'tokens', tokens, '(B, n, d)')
        return self.loss_weight * patch_cosine_similarity(
            tokens, self.absolute, self.eps, 'mean', self.max_chunk_mib
        )

    def extra_repr(self) -> str:
        return f'loss_weight={self.loss_weight}, absolute={self.absolute}, eps={self.eps}'
