"""Persistent power iteration on the extreme singular values (ours).

The default estimator of
:class:`~mmdiverse.models.losses.WeightConditionLoss`
(``estimator='persistent'``, see docs/fidelity.md).
"""

from typing import Sequence, Tuple, Union

import torch
from torch.autograd.function import once_differentiable

from .matrix_parts import outer_parts, part_sizes, parts_times, times_parts


def unit_rows(
    vec: torch.Tensor, fallback: torch.Tensor, eps: float
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Normalize rows of ``vec``; rows with norm <= eps keep ``fallback``."""
    norm = torch.linalg.vector_norm(vec, dim=-1, keepdim=True)
    unit = torch.where(norm > eps, vec / norm.clamp_min(eps), fallback)
    return unit, norm.squeeze(-1)


@torch.no_grad()
def power_iteration_extremes(
    weights: Union[torch.Tensor, Sequence[torch.Tensor]],
    vectors: torch.Tensor,
    num_iters: int,
    eps: float = 1e-12,
) -> torch.Tensor:
    r"""Refine right singular vectors of the largest and smallest ``sigma``.

    Only products of ``W`` and ``W^T`` with the two vectors (``O(m n)``,
    never ``W^T W`` which costs ``O(m n^2)``), batched over ``G`` matrices
    of equal shape: one pass over ``W`` and one over ``W^T`` per iteration,
    which updates both vectors from the previous ones:

    - :math:`y = W^T W v_{max}`, :math:`c = \|y\|`,
      :math:`v_{max} \leftarrow y / c` (power iteration on :math:`W^T W`;
      :math:`c \to \sigma_{max}^2` from below);
    - :math:`v_{min} \leftarrow (c\,v_{min} - W^T W v_{min}) / \|\cdot\|`
      (power iteration on the shifted operator :math:`cI - W^T W`, whose
      dominant eigenvector is the one of :math:`\sigma_{min}^2` once
      :math:`c > (\sigma_{max}^2 + \sigma_{min}^2) / 2`).

    The rate of the ``v_min`` iteration is
    :math:`(c - \sigma_{n-1}^2) / (c - \sigma_n^2)`, close to 1 when the
    smallest singular values cluster, hence the vectors are meant to persist
    between calls (see :class:`WeightConditionLoss`).

    Args:
        weights (Tensor | Sequence[Tensor]): ``(G, m, n)`` with ``m >= n``
            (pass ``W^T`` for wide matrices), or its parts ``(k_i, m, n)``
            (see :mod:`.matrix_parts`; no stacked copy is made).
        vectors (Tensor): ``(G, 2, n)`` current unit vectors,
            ``[:, 0] = v_max`` and ``[:, 1] = v_min``.
        num_iters (int): Iterations to run.
        eps (float): A vector whose update has norm ``<= eps`` (e.g. a zero
            matrix) is kept as it was.

    Returns:
        Tensor: ``(G, 2, n)`` refined vectors (a new tensor).
    """
    parts = [weights] if torch.is_tensor(weights) else list(weights)
    v_max, v_min = vectors[:, 0], vectors[:, 1]
    for _ in range(num_iters):
        # both vectors in one pass over W and one over W^T; W^T a is taken
        # as (a^T W)^T, which reads row-major W in order (faster on CPU)
        images = parts_times(parts, torch.stack((v_max, v_min), dim=-1))
        gram = times_parts(images.transpose(1, 2), parts)  # (G, 2, n)
        v_max, c = unit_rows(gram[:, 0], v_max, eps)
        shifted = c.unsqueeze(-1) * v_min - gram[:, 1]
        v_min, _ = unit_rows(shifted, v_min, eps)
    return torch.stack((v_max, v_min), dim=1)


class SpectralGap(torch.autograd.Function):
    r"""``sum_g (||W_g v_max||^2 - ||W_g v_min||^2)^2`` with ``v`` constant.

    Takes the images ``a = W [v_max, v_min]`` (``(G, m, 2)``) and the vectors
    (``(G, 2, n)``) computed without grad, plus the weights as their parts
    ``(k_i, m, n)`` only to connect the graph. With
    ``gap = ||a_max||^2 - ||a_min||^2`` the gradient is
    ``4 gap (a_max v_max^T - a_min v_min^T)``, built from the small saved
    tensors part by part: no copy of the weights is kept for backward.
    """

    @staticmethod
    def forward(ctx, images, vectors, *parts):
        sigma_sq = images.pow(2).sum(dim=1)  # (G, 2)
        gap = sigma_sq[:, 0] - sigma_sq[:, 1]
        ctx.save_for_backward(images, vectors, gap)
        ctx.dtypes = [p.dtype for p in parts]
        ctx.sizes = part_sizes(parts)
        return gap.pow(2).sum()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        images, vectors, gap = ctx.saved_tensors
        signs = images.new_tensor([1.0, -1.0])
        coef = (4 * grad_out.to(gap.dtype) * gap).view(-1, 1, 1)
        grads = outer_parts(images * signs * coef, vectors, ctx.sizes)
        return (None, None, *(g.to(dtype) for g, dtype in zip(grads, ctx.dtypes)))
