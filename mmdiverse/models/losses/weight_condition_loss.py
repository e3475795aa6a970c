"""Weight-conditioning regularizer (Chen et al. 2022, Diverse-ViT)."""
from collections import OrderedDict
from typing import Iterable, List, Tuple

import torch
from torch.autograd.function import once_differentiable

from mmpretrain.registry import MODELS
from .utils import autocast_off, compute_dtype, fmt_shape

_BUFFER_PREFIX = 'power_vectors_'
_INIT_SEED = 20220313


def _unit(vec: torch.Tensor, fallback: torch.Tensor,
          eps: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """Normalize rows of ``vec``; rows with norm <= eps keep ``fallback``."""
    norm = torch.linalg.vector_norm(vec, dim=-1, keepdim=True)
    unit = torch.where(norm > eps, vec / norm.clamp_min(eps), fallback)
    return unit, norm.squeeze(-1)


@torch.no_grad()
def power_iteration_extremes(weights: torch.Tensor,
                             vectors: torch.Tensor,
                             num_iters: int,
                             eps: float = 1e-12) -> torch.Tensor:
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
        weights (Tensor): ``(G, m, n)`` with ``m >= n`` (pass ``W^T`` for wide
            matrices).
        vectors (Tensor): ``(G, 2, n)`` current unit vectors,
            ``[:, 0] = v_max`` and ``[:, 1] = v_min``.
        num_iters (int): Iterations to run.
        eps (float): A vector whose update has norm ``<= eps`` (e.g. a zero
            matrix) is kept as it was.

    Returns:
        Tensor: ``(G, 2, n)`` refined vectors (a new tensor).
    """
    v_max, v_min = vectors[:, 0], vectors[:, 1]
    for _ in range(num_iters):
        # both vectors in one pass over W and one over W^T; W^T a is taken
        # as (a^T W)^T, which reads row-major W in order (faster on CPU)
        images = torch.bmm(weights, torch.stack((v_max, v_min), dim=-1))
        gram = torch.bmm(images.transpose(1, 2), weights)  # (G, 2, n)
        v_max, c = _unit(gram[:, 0], v_max, eps)
        shifted = c.unsqueeze(-1) * v_min - gram[:, 1]
        v_min, _ = _unit(shifted, v_min, eps)
    return torch.stack((v_max, v_min), dim=1)


class _SpectralGap(torch.autograd.Function):
    r"""``sum_g (||W_g v_max||^2 - ||W_g v_min||^2)^2`` with ``v`` constant.

    Takes the images ``a = W [v_max, v_min]`` (``(G, m, 2)``) and the vectors
    (``(G, 2, n)``) computed without grad, plus the weights only to connect
    the graph. With ``gap = ||a_max||^2 - ||a_min||^2`` the gradient is
    ``4 gap (a_max v_max^T - a_min v_min^T)``, built from the small saved
    tensors: no copy of the weights is kept for backward.
    """

    @staticmethod
    def forward(ctx, images, vectors, *weights):
        sigma_sq = images.pow(2).sum(dim=1)  # (G, 2)
        gap = sigma_sq[:, 0] - sigma_sq[:, 1]
        ctx.save_for_backward(images, vectors, gap)
        ctx.dtypes = [w.dtype for w in weights]
        return gap.pow(2).sum()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        images, vectors, gap = ctx.saved_tensors
        signs = images.new_tensor([1., -1.])
        coef = (4 * grad_out.to(gap.dtype) * gap).view(-1, 1, 1)
        grads = torch.bmm(images * signs, vectors).mul_(coef)  # (G, m, n)
        return (None, None,
                *(g.to(dtype) for g, dtype in zip(grads, ctx.dtypes)))


@MODELS.register_module()
class WeightConditionLoss(torch.nn.Module):
    r"""Weight conditioning loss: gap between extreme squared singular values.

    For each given weight matrix :math:`W` (the q, k and v projections of
    the attention blocks), summed over matrices:

    .. math::
        L_{w} = \sum_W \left(\sigma_{max}^2(W) - \sigma_{min}^2(W)\right)^2

    where ``sigma_min`` is the smallest of the ``min(rows, cols)`` singular
    values. :math:`\sigma^2` is estimated as :math:`\|W v\|^2` with ``v``
    the right singular vector from power iteration (see
    :func:`power_iteration_extremes`), treated as a constant like spectral
    normalization does: at convergence its gradient is the exact
    :math:`2 W v v^T`.

    **Persistent vectors.** The two vectors of each matrix are kept in a
    float32 buffer ``power_vectors_<index>`` (``index`` = position in the
    list, shape ``(2, min(rows, cols))``) on the weight's device, created
    lazily on the first call from a fixed seed (independent of the global
    RNG). They are in ``state_dict`` and are recreated on load, so resume
    reproduces training exactly. Under DDP every rank holds the same
    weights and the same seeded start, so the vectors stay in sync without
    communication. They are updated (under ``no_grad``) only in training
    mode, as spectral normalization does; in eval mode the iterations run
    on a copy and the state is untouched. If the matrix at an index changes
    shape, its vectors are re-initialized.

    **num_iters** trades cost for tracking: every call runs ``num_iters``
    iterations (one batched product with ``W`` and one with ``W^T`` each)
    before the estimate. Since ``W`` moves little per step, 1 is usually
    enough once warmed up; larger values make the estimate (and gradient)
    accurate sooner after initialization or large updates, at a cost linear
    in ``num_iters``. ``init_iters`` extra iterations run once, when the
    vectors are created. The ``sigma_min`` iteration converges more slowly
    than the ``sigma_max`` one when the small singular values cluster; until
    it converges, :math:`\|W v_{min}\|^2` over-estimates
    :math:`\sigma_{min}^2` (it is a Rayleigh quotient).

    Matrices of equal shape, dtype and device are stacked (one transient
    copy, under ``no_grad``) and processed by batched products; backward
    builds the gradient from the saved ``W v`` and ``v`` vectors, so no
    copy of the weights is kept between forward and backward. Per call
    this costs ``2 * num_iters + 1`` passes over ``W`` or ``W^T`` (products
    with two vectors), ``O(rows * cols)`` each, and never forms ``W^T W``. Runs in at
    least float32 with autocast off.

    ``sigma^2`` of the smaller side is used: a wide ``(rows < cols)`` matrix
    is iterated as its transpose, so ``sigma_min`` is never a structural 0.

    Paper: `The Principle of Diversity: Training Stronger Vision Transformers
    Calls for Reducing All Levels of Redundancy
    <https://arxiv.org/abs/2203.06345>`_ (Chen et al. 2022).

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        num_iters (int): Power iterations per call. Defaults to 1.
        init_iters (int): Extra iterations when a matrix's vectors are
            created. Defaults to 10.
        eps (float): Norm threshold of the power iteration. Defaults to
            1e-12.
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 num_iters: int = 1,
                 init_iters: int = 10,
                 eps: float = 1e-12) -> None:
        super().__init__()
        if num_iters < 0 or init_iters < 0:
            raise ValueError('num_iters and init_iters must be >= 0, got '
                             f'{num_iters} and {init_iters}')
        self.loss_weight = loss_weight
        self.num_iters = num_iters
        self.init_iters = init_iters
        self.eps = eps

    # ---------------------------------------------------------------- state
    @staticmethod
    def _initial_vectors(index: int, size: int,
                         device: torch.device) -> torch.Tensor:
        gen = torch.Generator().manual_seed(_INIT_SEED + index)
        vec = torch.randn(2, size, generator=gen, dtype=torch.float32)
        vec = vec / torch.linalg.vector_norm(vec, dim=-1, keepdim=True)
        return vec.to(device)

    def _vectors(self, index: int, size: int,
                 device: torch.device) -> Tuple[torch.Tensor, bool]:
        """Stored vectors of matrix ``index`` and whether they are new."""
        name = f'{_BUFFER_PREFIX}{index}'
        buf = self._buffers.get(name)
        if buf is not None and buf.shape == (2, size):
            return buf.to(device), False
        return self._initial_vectors(index, size, device), True

    @torch.no_grad()
    def _store(self, index: int, vec: torch.Tensor) -> None:
        """Write back in place (keeps the buffer object) or (re)create."""
        name = f'{_BUFFER_PREFIX}{index}'
        buf = self._buffers.get(name)
        if (buf is not None and buf.shape == vec.shape
                and buf.device == vec.device and buf.dtype == torch.float32):
            buf.copy_(vec)
        else:
            self.register_buffer(name, vec.detach().float().clone())

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Buffers are created lazily: create the ones the checkpoint has so
        # that loading restores them instead of reporting unexpected keys.
        for key, value in state_dict.items():
            if key.startswith(prefix + _BUFFER_PREFIX):
                name = key[len(prefix):]
                if name[len(_BUFFER_PREFIX):].isdigit():
                    current = self._buffers.get(name)
                    if current is None or current.shape != value.shape:
                        self.register_buffer(
                            name, torch.empty_like(value, dtype=torch.float32))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # -------------------------------------------------------------- compute
    def _check(self, weights) -> List[torch.Tensor]:
        owner = type(self).__name__
        if torch.is_tensor(weights) or not hasattr(weights, '__iter__'):
            got = (fmt_shape(weights) if torch.is_tensor(weights) else
                   type(weights).__name__)
            raise ValueError(f'{owner} expects a list of 2-D weight matrices '
                             f'(rows, cols), got {got}')
        weights = list(weights)
        if len(weights) == 0:
            raise ValueError(f'{owner} expects at least one weight matrix')
        for i, w in enumerate(weights):
            if not torch.is_tensor(w) or w.dim() != 2 or w.numel() == 0:
                got = fmt_shape(w) if torch.is_tensor(w) else type(w).__name__
                raise ValueError(f'{owner} expects weights[{i}] of shape '
                                 f'(rows, cols), got {got}')
        return weights

    def forward(self, weights: Iterable[torch.Tensor]) -> torch.Tensor:
        """Compute the loss.

        Args:
            weights (Iterable[Tensor]): 2-D weight matrices ``(rows, cols)``,
                e.g. the q, k, v slices of every block's ``qkv`` projection
                (``qkv.weight.chunk(3)``). The order must be the same at
                every call (vectors are keyed by position).

        Returns:
            Tensor: Scalar loss, already multiplied by ``loss_weight``.
        """
        weights = self._check(weights)
        groups = OrderedDict()
        for index, w in enumerate(weights):
            oriented = w if w.shape[0] >= w.shape[1] else w.transpose(0, 1)
            key = (tuple(oriented.shape), w.device, w.dtype)
            groups.setdefault(key, []).append((index, oriented))

        device = weights[0].device
        total = None
        with autocast_off(device):
            for members in groups.values():
                gap = self._group_gap(members)
                total = gap if total is None else total + gap.to(total)
        return self.loss_weight * total

    def _group_gap(self, members) -> torch.Tensor:
        """Sum of ``(sigma_max^2 - sigma_min^2)^2`` over same-shape matrices.
        """
        indices = [index for index, _ in members]
        oriented = [w for _, w in members]
        with torch.no_grad():
            # one transient (G, m, n) copy; nothing of it is kept for backward
            stacked = torch.stack([w.detach() for w in oriented])
            stacked = stacked.to(compute_dtype(stacked))
            size, device = stacked.shape[-1], stacked.device
            stored, fresh = zip(*(self._vectors(i, size, device)
                                  for i in indices))
            # (G, 2, n); renormalize: float32 storage is unit only to ~1e-7
            vectors = torch.stack(stored).to(stacked.dtype)
            vectors, _ = _unit(vectors, vectors, self.eps)
            if any(fresh) and self.init_iters:
                warm = power_iteration_extremes(stacked, vectors,
                                                self.init_iters, self.eps)
                is_fresh = torch.tensor(fresh, device=device).view(-1, 1, 1)
                vectors = torch.where(is_fresh, warm, vectors)
            vectors = power_iteration_extremes(stacked, vectors,
                                               self.num_iters, self.eps)
            if self.training:
                for index, vec in zip(indices, vectors.float()):
                    self._store(index, vec)
            images = torch.bmm(stacked, vectors.transpose(1, 2))  # (G, m, 2)
            del stacked
        return _SpectralGap.apply(images, vectors, *oriented)

    def extra_repr(self) -> str:
        return (f'loss_weight={self.loss_weight}, num_iters={self.num_iters}, '
                f'init_iters={self.init_iters}')
