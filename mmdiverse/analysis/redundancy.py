"""Redundancy measures at the three levels studied by Diverse-ViT.

* patch level: mean pairwise cosine similarity of a layer's patch tokens
  (Gong et al. 2021, https://arxiv.org/abs/2104.12753, Fig. 1);
* attention level: mean pairwise cosine similarity of a layer's attention heads;
* weight level: condition number of each q, k, v projection
  (Chen et al. 2022, https://arxiv.org/abs/2203.06345).

Similarities are the off-diagonal means (``i != j``): 1.0 means all tokens
(heads) are identical, 0 means orthogonal on average. They use the ``O(n d)``
identity ``sum_{i,j} x_i.x_j = ||sum_i x_i||^2``, so no ``n x n`` matrix is formed.
"""

from typing import Dict, List

import torch

from mmdiverse.models.losses import attention_head_similarity, patch_cosine_similarity


def _off_diagonal_mean(
    all_pairs_mean: torch.Tensor, diagonal_sum: torch.Tensor, count: int
) -> torch.Tensor:
    """Turn a mean over all ``count**2`` pairs into the mean over ``i != j``."""
    if count < 2:
        return torch.zeros_like(all_pairs_mean)
    return (all_pairs_mean * count * count - diagonal_sum) / (count * (count - 1))


@torch.no_grad()
def mean_patch_similarity(tokens: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Mean cosine similarity over pairs of distinct patch tokens, per image.

    Args:
        tokens: ``(B, n, d)`` patch tokens.
        eps: norm clamp (zero tokens count as orthogonal to all others).

    Returns:
        Tensor: ``(B,)`` float32 similarities in ``[-1, 1]``.
    """
    all_pairs = patch_cosine_similarity(tokens, absolute=False, eps=eps, reduction='none')
    nonzero = (tokens.float().norm(dim=-1) > eps).sum(dim=1).to(all_pairs.dtype)
    return _off_diagonal_mean(all_pairs, nonzero, tokens.shape[1])


@torch.no_grad()
def mean_head_similarity(attn: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Mean cosine similarity over pairs of distinct heads' attention maps.

    Args:
        attn: ``(B, H, N, N)`` attention probabilities.

    Returns:
        Tensor: ``(B,)`` float32 similarities.
    """
    all_pairs = attention_head_similarity(attn, eps=eps, reduction='none')
    nonzero = (attn.float().flatten(2).norm(dim=-1) > eps).sum(dim=1).to(all_pairs.dtype)
    return _off_diagonal_mean(all_pairs, nonzero, attn.shape[1])


@torch.no_grad()
def condition_numbers(weights: List[torch.Tensor]) -> List[float]:
    """``sigma_max / sigma_min`` of each 2-D matrix (exact SVD, float64).

    Returns:
        list[float]: one per matrix; ``inf`` for a singular matrix.
    """
    numbers = []
    for weight in weights:
        singular = torch.linalg.svdvals(weight.detach().double())
        smallest = singular[-1].item()
        numbers.append(float('inf') if smallest == 0 else singular[0].item() / smallest)
    return numbers


class RunningMean:
    """Per-key running mean of ``(B,)`` tensors, weighted by batch size."""

    def __init__(self):
        self._sums: Dict[int, float] = {}
        self._counts: Dict[int, int] = {}

    def update(self, key: int, values: torch.Tensor) -> None:
        self._sums[key] = self._sums.get(key, 0.0) + values.double().sum().item()
        self._counts[key] = self._counts.get(key, 0) + values.numel()

    def result(self) -> Dict[int, float]:
        return {key: self._sums[key] / self._counts[key] for key in sorted(self._sums)}
