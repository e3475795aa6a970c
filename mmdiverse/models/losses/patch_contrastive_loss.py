"""Patch-wise contrastive regularizer (Gong et al. 2021)."""

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from .utils import autocast_off, check_rank, check_same_batch, fmt_shape, normalize, to_compute


def pool_tokens_to_grid(
    tokens: torch.Tensor, src_hw: Tuple[int, int], dst_hw: Tuple[int, int]
) -> torch.Tensor:
    """Adaptive-average-pool a ``(B, h*w, d)`` token grid to another grid.

    Tokens are row-major (``index = row * w + col``), as Swin / ViT emit
    them. The raw tokens are pooled; normalization happens afterwards.

    Args:
        tokens (Tensor): ``(B, h_src * w_src, d)``.
        src_hw (tuple[int, int]): ``(h_src, w_src)``.
        dst_hw (tuple[int, int]): ``(h_dst, w_dst)``.

    Returns:
        Tensor: ``(B, h_dst * w_dst, d)``.
    """
    batch, n, dim = tokens.shape
    (h, w), (oh, ow) = tuple(src_hw), tuple(dst_hw)
    if h * w != n:
        raise ValueError(
            f'grid {tuple(src_hw)} does not match {n} tokens of shape {fmt_shape(tokens)}'
        )
    if (h, w) == (oh, ow):
        return tokens
    grid = tokens.transpose(1, 2).reshape(batch, dim, h, w)
    pooled = F.adaptive_avg_pool2d(grid, (oh, ow))
    return pooled.flatten(2).transpose(1, 2)


def patch_contrastive_loss(
    first: torch.Tensor, last: torch.Tensor, eps: float = 1e-8, reduction: str = 'mean'
) -> torch.Tensor:
    r"""Patch-wise contrastive term between two aligned token sets.

    With :math:`s_{ij} = \hat f_i \cdot \hat l_j` and
    :math:`m_i = (\sum_j s_{ij} - s_{ii}) / (n-1)`, per image:

    .. math::
        \frac{1}{n} \sum_i -\log\frac{e^{s_{ii}}}{e^{s_{ii}} + e^{m_i}}
        = \frac{1}{n} \sum_i \mathrm{softplus}(m_i - s_{ii})

    computed in ``O(n d)`` with :math:`\sum_j s_{ij} = \hat f_i \cdot
    \sum_j \hat l_j` (no ``n x n`` matrix), in at least float32 with autocast
    off. Paper: `Vision Transformers with Patch Diversification
    <https://arxiv.org/abs/2104.12753>`_.

    Args:
        first (Tensor): ``(B, n, d)`` tokens of the first layer (already on
            the last grid; detach them beforehand if wanted).
        last (Tensor): ``(B, n, d)`` tokens of the last layer.
        eps (float): Norm clamp. Defaults to 1e-8.
        reduction (str): ``'mean'`` (scalar) or ``'none'`` (``(B,)``).

    Returns:
        Tensor: The loss, float32 (float64 for float64 inputs).

    Raises:
        ValueError: If the shapes differ, or ``n < 2`` (no negatives: the
            term is undefined; pool less or drop the term).
    """
    owner = 'patch_contrastive_loss'
    check_rank(owner, 'first', first, '(B, n, d)')
    check_rank(owner, 'last', last, '(B, n, d)')
    if first.shape != last.shape:
        raise ValueError(
            f'{owner} expects first and last of the same shape, '
            f'got first {fmt_shape(first)} and last '
            f'{fmt_shape(last)}'
        )
    if reduction not in ('mean', 'none'):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    n = last.shape[1]
    if n < 2:
        raise ValueError(
            f'{owner} needs at least 2 tokens (the other '
            f'tokens are the negatives), got last '
            f'{fmt_shape(last)}'
        )
    with autocast_off(last.device):
        f = normalize(to_compute(first), eps)
        lst = normalize(to_compute(last), eps)
        positive = (f * lst).sum(dim=-1)  # s_ii, (B, n)
        row_sum = torch.einsum('bnd,bd->bn', f, lst.sum(dim=1))
        mean_negative = (row_sum - positive) / (n - 1)
        per_image = F.softplus(mean_negative - positive).mean(dim=1)
    return per_image.mean() if reduction == 'mean' else per_image


@MODELS.register_module()
class PatchContrastiveLoss(torch.nn.Module):
    r"""Patch-wise contrastive loss between first-layer and last-layer tokens.

    Each last-layer patch should stay closest to the first-layer embedding of
    the same patch, compared with the mean similarity to the other patches.
    With :math:`\hat h = h / \max(\|h\|, \epsilon)`,
    :math:`s_{ij} = \hat h_i^{first} \cdot \hat h_j^{L}` and
    :math:`m_i = (\sum_j s_{ij} - s_{ii}) / (n-1)`, per image then averaged
    over the batch:

    .. math::
        L_{con} = -\frac{1}{n}\sum_i
            \log\frac{e^{s_{ii}}}{e^{s_{ii}} + e^{m_i}}

    Computed in ``O(n d)`` memory and time (see
    :func:`patch_contrastive_loss`). ``n = 1`` (no negatives) raises
    ``ValueError``.

    Paper: `Vision Transformers with Patch Diversification
    <https://arxiv.org/abs/2104.12753>`_.

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        detach_first (bool): Stop the gradient into the first-layer tokens
            (as in the paper). Defaults to True.
        eps (float): Norm clamp. Defaults to 1e-8.
    """

    def __init__(
        self, loss_weight: float = 1.0, detach_first: bool = True, eps: float = 1e-8
    ) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.detach_first = detach_first
        self.eps = eps

    def forward(
        self,
        first: torch.Tensor,
        last: torch.Tensor,
        first_hw: Optional[Tuple[int, int]] = None,
        last_hw: Optional[Tuple[int, int]] = None,
    ) -> torch.Tensor:
        """Compute the loss.

        Args:
            first (Tensor): First-layer patch tokens ``(B, n_first, d)``.
            last (Tensor): Last-layer patch tokens ``(B, n, d)``.
            first_hw (tuple[int, int], optional): Grid ``(h, w)`` of
                ``first``. Required with ``last_hw`` when the grids differ
                (e.g. Swin); ``first`` is then adaptive-average-pooled to the
                last grid (raw tokens pooled, then normalized).
            last_hw (tuple[int, int], optional): Grid ``(h, w)`` of ``last``.

        Returns:
            Tensor: Scalar loss, already multiplied by ``loss_weight``.
        """
        owner = type(self).__name__
        check_rank(owner, 'first', first, '(B, n, d)')
        check_rank(owner, 'last', last, '(B, n, d)')
        check_same_batch(owner, ('first', 'last'), (first, last))
        if first.shape[-1] != last.shape[-1]:
            raise ValueError(
                f'{owner} expects first and last of the same '
                f'width d, got first {fmt_shape(first)} and last '
                f'{fmt_shape(last)}'
            )
        if self.detach_first:
            first = first.detach()
        if (first_hw is None) != (last_hw is None):
            raise ValueError(
                f'{owner} needs both first_hw and last_hw or '
                f'neither, got first_hw={first_hw}, '
                f'last_hw={last_hw}'
            )
        if first_hw is not None:
            if last_hw[0] * last_hw[1] != last.shape[1]:
                raise ValueError(f'last_hw {tuple(last_hw)} does not match last {fmt_shape(last)}')
            # pool in (at least) fp32: bf16 averages lose precision
            first = pool_tokens_to_grid(to_compute(first), first_hw, last_hw)
        elif first.shape[1] != last.shape[1]:
            raise ValueError(
                f'{owner}: first {fmt_shape(first)} and last '
                f'{fmt_shape(last)} have different token grids; '
                f'pass first_hw=(h, w) and last_hw=(h, w)'
            )
        return self.loss_weight * patch_contrastive_loss(first, last, self.eps)

    def extra_repr(self) -> str:
        return f'loss_weight={self.loss_weight}, detach_first={self.detach_first}, eps={self.eps}'
