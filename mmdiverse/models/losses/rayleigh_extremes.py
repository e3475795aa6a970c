"""One-step Rayleigh estimates of the extreme squared singular values.

The weight-conditioning estimator of Diverse-ViT (Chen et al. 2022), used
by :class:`~mmdiverse.models.losses.WeightConditionLoss` with
``estimator='fresh_rayleigh'`` (see docs/fidelity.md).
"""

from typing import Optional, Sequence

import torch
from torch.autograd.function import once_differentiable

from .matrix_parts import outer_parts, part_sizes, parts_times, times_parts
from .utils import compute_dtype


def uniform_start_vectors(
    num: int,
    size: int,
    device: torch.device,
    dtype: torch.dtype,
    generator: Optional[torch.Generator] = None,
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
        vec = torch.rand(shape, generator=generator, device=generator.device, dtype=torch.float32)
    return vec.to(device=device, dtype=dtype)


def rayleigh_extremes(parts: Sequence[torch.Tensor], vectors: torch.Tensor) -> torch.Tensor:
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
    Nothing is detached: the gradient runs through both estimates,
    including :math:`\lambda_{max}` inside the shift. Neither estimate has
    converged; this is the penalty Diverse-ViT optimizes, not the exact
    spectrum (the ``'persistent'`` estimator of ``WeightConditionLoss``
    converges to it).

    ``M`` is never formed: only products of ``W`` and ``W^T`` with two
    vectors, three forward (``W [x_1, x_2]``, then ``W^T`` of that, then
    ``W [y_1, M x_2]``; :math:`W y_2 = W M x_2 - \lambda_{max} W x_2`) and
    two backward, ``O(G m n)`` each, batched per part (see
    :mod:`.matrix_parts`), with no host sync. The weight gradient, a sum of
    six outer products per matrix, is formed by one batched product of
    rank 6 per part (see :class:`RayleighExtremes`).

    Args:
        parts (Sequence[Tensor]): The ``G`` matrices ``(m, n)`` as parts
            ``(k_i, m, n)`` of one shape, dtype and device (e.g.
            ``qkv.weight.view(3, d, d_in)`` of each block); computed in at
            least float32, the gradients come back in their dtype.
        vectors (Tensor): ``(G, 2, n)``, ``[:, 0] = x_1`` and
            ``[:, 1] = x_2``, on the weights' device (cast to the compute
            dtype).

    Returns:
        Tensor: ``(G, 2)``: ``[:, 0] = lambda_max``, ``[:, 1] = lambda_min``.
    """
    parts = list(parts)
    shapes = {tuple(p.shape[1:]) for p in parts}
    if (
        not parts
        or len(shapes) != 1
        or any(p.dim() != 3 for p in parts)
        or vectors.shape != (sum(part_sizes(parts)), 2, parts[0].shape[-1])
    ):
        raise ValueError(
            'rayleigh_extremes expects parts (k_i, m, n) of one (m, n) and '
            'vectors (sum k_i, 2, n), got parts '
            f'{[tuple(p.shape) for p in parts]} and vectors '
            f'{tuple(vectors.shape)}'
        )
    return RayleighExtremes.apply(vectors, *parts)


class RayleighExtremes(torch.autograd.Function):
    r"""Forward and hand-written backward of :func:`rayleigh_extremes`.

    Per matrix (rows of the batched tensors): ``a, b = W x_1, W x_2``,
    ``y_1, z = W^T a, W^T b``, ``c, d = W y_1, W z``;
    ``lambda_max = |c|^2 / |y_1|^2``, ``y_2 = z - lambda_max x_2``,
    ``e = d - lambda_max b = W y_2``, ``lambda_min = |e|^2 / |y_2|^2``
    (both denominators clamped at the dtype's ``tiny``, which only guards
    ``W = 0``). Backward applies the chain rule to these steps: the vector
    gradients ``g_c, g_d`` go back through ``W^T`` and ``g_y1, g_z``
    through ``W`` (two products with two vectors), and

    .. math::
        \nabla_W = g_c y_1^T + g_d z^T + a\,g_{y_1}^T + b\,g_z^T
            + g_a x_1^T + g_b x_2^T

    is one ``(k_i, m, 6) @ (k_i, 6, n)`` product per part. Autograd through
    the same steps would write three outer products per matrix and sum
    them. The result equals autograd's to rounding (tested against a
    float64 reference).
    """

    @staticmethod
    def forward(ctx, vectors, *parts):
        dtype = compute_dtype(parts[0])
        weights = [p.to(dtype) for p in parts]  # no copy in float32
        vectors = vectors.to(dtype)
        tiny = torch.finfo(dtype).tiny
        images = parts_times(weights, vectors.transpose(1, 2))  # [a, b]
        gram = times_parts(images.transpose(1, 2), weights)  # [y_1, z]
        w_y = parts_times(weights, gram.transpose(1, 2))  # [c, d]
        b, y_1, z, c, d = (images[..., 1], gram[:, 0], gram[:, 1], w_y[..., 0], w_y[..., 1])
        norm_y1 = y_1.pow(2).sum(-1)
        lam_max = c.pow(2).sum(-1) / norm_y1.clamp_min(tiny)
        y_2 = z - lam_max.unsqueeze(-1) * vectors[:, 1]
        e = d - lam_max.unsqueeze(-1) * b
        norm_y2 = y_2.pow(2).sum(-1)
        lam_min = e.pow(2).sum(-1) / norm_y2.clamp_min(tiny)
        ctx.save_for_backward(
            vectors, images, gram, w_y, y_2, e, norm_y1, norm_y2, lam_max, lam_min, *weights
        )
        ctx.dtypes = [p.dtype for p in parts]
        return torch.stack((lam_max, lam_min), dim=-1)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_lam):
        (vectors, images, gram, w_y, y_2, e, norm_y1, norm_y2, lam_max, lam_min, *weights) = (
            ctx.saved_tensors
        )
        tiny = torch.finfo(vectors.dtype).tiny
        grad_lam = grad_lam.to(vectors.dtype)
        a, b = images[..., 0], images[..., 1]
        y_1, z, c = gram[:, 0], gram[:, 1], w_y[..., 0]
        x_2 = vectors[:, 1]
        # lambda_min = |e|^2 / |y_2|^2 (clamp_min passes where >= tiny)
        den_2 = norm_y2.clamp_min(tiny)
        g_e = (2 * grad_lam[:, 1] / den_2).unsqueeze(-1) * e
        g_y2 = (-2 * grad_lam[:, 1] * lam_min / den_2 * (norm_y2 >= tiny)).unsqueeze(-1) * y_2
        # e = d - lam_max b, y_2 = z - lam_max x_2
        g_max = grad_lam[:, 0] - (g_e * b).sum(-1) - (g_y2 * x_2).sum(-1)
        # lambda_max = |c|^2 / |y_1|^2
        den_1 = norm_y1.clamp_min(tiny)
        g_c = (2 * g_max / den_1).unsqueeze(-1) * c
        g_y1 = (-2 * g_max * lam_max / den_1 * (norm_y1 >= tiny)).unsqueeze(-1) * y_1
        # c, d = W y_1, W z: y_1 and z receive W^T [g_c, g_e]
        back = times_parts(torch.stack((g_c, g_e), dim=1), weights)
        g_y1 = g_y1 + back[:, 0]
        g_z = g_y2 + back[:, 1]
        # y_1, z = W^T a, W^T b: a and b receive W [g_y1, g_z]
        fwd = parts_times(weights, torch.stack((g_y1, g_z), dim=-1))
        g_a = fwd[..., 0]
        g_b = fwd[..., 1] - lam_max.unsqueeze(-1) * g_e
        left = torch.stack((g_c, g_e, a, b, g_a, g_b), dim=-1)  # (G, m, 6)
        right = torch.stack((y_1, z, g_y1, g_z, vectors[:, 0], x_2), dim=1)  # (G, 6, n)
        grads = outer_parts(left, right, part_sizes(weights))
        return (None, *(g.to(dtype) for g, dtype in zip(grads, ctx.dtypes)))
