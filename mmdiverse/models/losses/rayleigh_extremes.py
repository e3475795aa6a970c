"""One-step Rayleigh estimates of the extreme squared singular values.

The weight-conditioning estimator of Diverse-ViT (Chen et al. 2022), used
by :class:`~mmdiverse.models.losses.WeightConditionLoss` with
``estimator='fresh_rayleigh'`` (see docs/fidelity.md).
"""
from typing import Optional

import torch


def uniform_start_vectors(num: int,
                          size: int,
                          device: torch.device,
                          dtype: torch.dtype,
                          generator: Optional[torch.Generator] = None
                          ) -> torch.Tensor:
    """``(num, 2, size)`` fresh ``U[0, 1)`` start vectors.

    Drawn in float32 (the values do not depend on the weights' dtype) from
    ``generator`` (on its own device) or, without one, from the global RNG
    of ``device``; then cast to ``dtype`` on ``device`` (no host sync).
    """
    shape = (num, 2, size)
    if generator is None:
        vec = torch.rand(shape, device=device, dtype=torch.float32)
    else:
        vec = torch.rand(shape, generator=generator,
                         device=generator.device, dtype=torch.float32)
    return vec.to(device=device, dtype=dtype)


def rayleigh_extremes(weights: torch.Tensor,
                      vectors: torch.Tensor) -> torch.Tensor:
    r"""Diverse-ViT's estimates of :math:`\sigma_{max}^2` and
    :math:`\sigma_{min}^2`, differentiable w.r.t. the weights.

    With :math:`M = W^T W` and start vectors :math:`x_1, x_2` (fresh
    ``U[0, 1)`` draws in training, see :func:`uniform_start_vectors`), one
    power step followed by a Rayleigh quotient:

    .. math::
        \lambda_{max} = \frac{x_1^T M^3 x_1}{x_1^T M^2 x_1}
            = \frac{\|W y_1\|^2}{\|y_1\|^2},\quad y_1 = M x_1

    and the same estimate on the shifted :math:`M' = M - \lambda_{max} I`:

    .. math::
        \lambda' = \frac{x_2^T M'^3 x_2}{x_2^T M'^2 x_2},\qquad
        \lambda_{min} = \lambda' + \lambda_{max}
            = \frac{\|W y_2\|^2}{\|y_2\|^2},\quad
            y_2 = M x_2 - \lambda_{max} x_2

    (the right-hand forms are the same numbers without the cancellation).
    Nothing is detached: autograd runs through both estimates, including
    :math:`\lambda_{max}` inside the shift. Neither estimate has converged;
    this is the penalty Diverse-ViT optimizes, not the exact spectrum (the
    ``'persistent'`` estimator of ``WeightConditionLoss`` converges to it).

    ``M`` is never formed: only products of ``W`` and ``W^T`` with two
    vectors, three batched products in all (``W [x_1, x_2]``, then
    ``W^T`` of that, then ``W [y_1, M x_2]``; :math:`W y_2 = W M x_2 -
    \lambda_{max} W x_2`), ``O(G m n)`` each, batched over the ``G``
    matrices with no Python loop and no host sync.

    Args:
        weights (Tensor): ``(G, m, n)`` stacked matrices (part of the
            autograd graph).
        vectors (Tensor): ``(G, 2, n)``, ``[:, 0] = x_1`` and
            ``[:, 1] = x_2``, same dtype and device as ``weights``.

    Returns:
        Tensor: ``(G, 2)``: ``[:, 0] = lambda_max``, ``[:, 1] = lambda_min``.
    """
    if weights.dim() != 3 or vectors.shape != (weights.shape[0], 2,
                                               weights.shape[2]):
        raise ValueError('rayleigh_extremes expects weights (G, m, n) and '
                         'vectors (G, 2, n), got '
                         f'{tuple(weights.shape)} and {tuple(vectors.shape)}')
    tiny = torch.finfo(weights.dtype).tiny  # only guards 0 / 0 (W = 0)
    images = torch.bmm(weights, vectors.transpose(1, 2))  # W x, (G, m, 2)
    gram = torch.bmm(images.transpose(1, 2), weights)  # (M x)^T, (G, 2, n)
    y_max, m_x2 = gram[:, 0], gram[:, 1]
    w_y = torch.bmm(weights, gram.transpose(1, 2))  # W [y_1, M x_2]
    lam_max = (w_y[..., 0].pow(2).sum(-1) /
               y_max.pow(2).sum(-1).clamp_min(tiny))  # (G,)
    y_min = m_x2 - lam_max.unsqueeze(-1) * vectors[:, 1]
    w_y_min = w_y[..., 1] - lam_max.unsqueeze(-1) * images[..., 1]
    lam_min = (w_y_min.pow(2).sum(-1) /
               y_min.pow(2).sum(-1).clamp_min(tiny))
    return torch.stack((lam_max, lam_min), dim=-1)
