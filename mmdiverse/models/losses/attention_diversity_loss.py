"""Attention-head diversity regularizer (Chen et al. 2022, Diverse-ViT)."""

import torch
from mmpretrain.registry import MODELS
from torch.autograd.function import once_differentiable

from .utils import autocast_off, check_rank, to_compute


class _HeadSimilarity(torch.autograd.Function):
    r"""Per image :math:`\|\sum_a A_a / \max(\|A_a\|, \epsilon)\|^2 / H^2`.

    ``maps`` is ``(B, H, K)``. With :math:`s = \sum_a \hat A_a` and
    :math:`r_a = \max(\|A_a\|, \epsilon)`, the gradient is
    :math:`\frac{2}{H^2} (s / r_a - [\|A_a\| \ge \epsilon]
    (s \cdot A_a) A_a / r_a^3)`, written into one ``(B, H, K)`` buffer
    (autograd through the normalization would make three).
    """

    @staticmethod
    def forward(ctx, maps: torch.Tensor, eps: float) -> torch.Tensor:
        norms = torch.linalg.vector_norm(maps, dim=-1)  # (B, H)
        inv = 1.0 / norms.clamp_min(eps)
        head_sum = torch.einsum('bhk,bh->bk', maps, inv)  # s, (B, K)
        ctx.save_for_backward(maps, inv, head_sum, norms >= eps)
        heads = maps.shape[1]
        return head_sum.pow(2).sum(dim=-1) / (heads * heads)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor):
        maps, inv, head_sum, unclamped = ctx.saved_tensors
        heads = maps.shape[1]
        coef = (2.0 / heads**2) * grad_out.to(maps.dtype).unsqueeze(-1)
        grad = head_sum.unsqueeze(1) * (coef * inv).unsqueeze(-1)
        projection = torch.einsum('bk,bhk->bh', head_sum, maps)
        radial = torch.where(unclamped, -coef * projection * inv**3, 0.0)
        grad.addcmul_(maps, radial.unsqueeze(-1))
        return grad, None


def attention_head_similarity(
    attn: torch.Tensor, eps: float = 1e-8, reduction: str = 'mean'
) -> torch.Tensor:
    r"""Mean cosine similarity between the flattened attention maps of heads.

    For each image, flatten head :math:`a`'s map to :math:`A_a \in R^{N^2}`,
    :math:`\hat A_a = A_a / \max(\|A_a\|, \epsilon)`, and average the
    ``H x H`` cosine matrix including its diagonal:

    .. math::
        \frac{1}{H^2}\sum_{a,b} \hat A_a \cdot \hat A_b
        = \frac{1}{H^2} \Big\|\sum_a \hat A_a\Big\|^2

    The right-hand identity gives the same value in ``O(H N^2)`` without the
    ``H x H`` Gram (``O(H^2 N^2)``) and without a normalized copy of the
    maps; the backward writes the gradient into one buffer of the size of
    ``attn``. Runs in at least float32 with autocast off.

    Args:
        attn (Tensor): ``(B, H, N, N)`` attention probabilities (any
            ``(B, H, N_q, N_k)`` works: each head's map is flattened).
        eps (float): Norm clamp. Defaults to 1e-8.
        reduction (str): ``'mean'`` over the batch, or ``'none'`` (``(B,)``).

    Returns:
        Tensor: float32 (float64 for float64 input).
    """
    check_rank('attention_head_similarity', 'attn', attn, '(B, H, N, N)')
    if reduction not in ('mean', 'none'):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    with autocast_off(attn.device):
        maps = to_compute(attn).flatten(2)  # (B, H, N*N)
        per_image = _HeadSimilarity.apply(maps, eps)
    return per_image.mean() if reduction == 'mean' else per_image


@MODELS.register_module()
class AttentionDiversityLoss(torch.nn.Module):
    r"""Attention diversity loss: mean cosine similarity between heads.

    For the attention probabilities :math:`A \in R^{B \times H \times N
    \times N}` of one block, each head's map is flattened and normalized,
    :math:`\hat A_a = A_a / \max(\|A_a\|, \epsilon)`; the loss is the mean of
    the ``H x H`` cosine-similarity matrix (diagonal included), averaged over
    the batch:

    .. math::
        L_{attn} = \frac{1}{H^2} \sum_{a, b} \hat A_a \cdot \hat A_b

    computed as :math:`\|\sum_a \hat A_a\|^2 / H^2` (see
    :func:`attention_head_similarity`). For non-negative, non-zero maps it
    lies in :math:`[1/H, 1]`: :math:`1/H` for heads attending to disjoint
    keys (only the diagonal is left), 1 for identical heads.

    Paper: `The Principle of Diversity: Training Stronger Vision Transformers
    Calls for Reducing All Levels of Redundancy
    <https://arxiv.org/abs/2203.06345>`_ (Chen et al. 2022).

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        eps (float): Norm clamp. Defaults to 1e-8.
    """

    def __init__(self, loss_weight: float = 1.0, eps: float = 1e-8) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.eps = eps

    def forward(self, attn: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Args:
            attn (Tensor): ``(B, H, N, N)`` attention probabilities.

        Returns:
            Tensor: Scalar loss, already multiplied by ``loss_weight``.
        """
        check_rank(type(self).__name__, 'attn', attn, '(B, H, N, N)')
        return self.loss_weight * attention_head_similarity(attn, self.eps)

    def extra_repr(self) -> str:
        return f'loss_weight={self.loss_weight}, eps={self.eps}'
