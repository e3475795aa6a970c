"""Weight-conditioning regularizer (Chen et al. 2022, Diverse-ViT)."""
from collections import OrderedDict
from typing import Iterable, List, Optional, Sequence, Tuple

import torch

from mmpretrain.registry import MODELS
from .power_iteration import (SpectralGap, power_iteration_extremes,
                              unit_rows)
from .rayleigh_extremes import rayleigh_extremes, uniform_start_vectors
from .utils import autocast_off, compute_dtype, fmt_shape

#: ``WeightConditionLoss(estimator=...)``: ours (default) and Diverse-ViT's.
ESTIMATORS = ('persistent', 'fresh_rayleigh')

_BUFFER_PREFIX = 'power_vectors_'
_INIT_SEED = 20220313


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

    **Persistent vectors** (``estimator='persistent'``, the default). The
    two vectors of each matrix are kept in a float32 buffer
    ``power_vectors_<index>`` (``index`` = position in the list, shape
    ``(2, min(rows, cols))``) on the weight's device, created lazily on the
    first call from a fixed seed (independent of the global RNG). They are in
    ``state_dict`` and are recreated on load, so resume reproduces training
    exactly. Under DDP every rank holds the same weights and the same seeded
    start, so the vectors stay in sync without communication. They are
    updated (under ``no_grad``) only in training mode, as spectral
    normalization does; in eval mode the iterations run on a copy and the
    state is untouched. If the matrix at an index changes shape, its vectors
    are re-initialized.

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

    **estimator='fresh_rayleigh'** is Diverse-ViT's estimator (see
    docs/fidelity.md): at every call, for every matrix, fresh ``U[0, 1)``
    vectors, one power step on :math:`M = W^T W` and a Rayleigh quotient
    for :math:`\sigma_{max}^2`, the same on :math:`M - \sigma_{max}^2 I`
    for :math:`\sigma_{min}^2`, with autograd through both estimates (see
    :func:`~mmdiverse.models.losses.rayleigh_extremes.rayleigh_extremes`).
    It keeps no state (no buffers; ``num_iters`` and ``init_iters`` are
    unused) and costs three batched products per call forward, and two
    plus one rank-6 product backward; the stacked ``(G, m, n)`` copy of each
    same-shape group is kept for backward. The
    two start vectors of a matrix are independent draws (one per estimate).
    They come from the global RNG of the weights' device, or from
    ``generator``.

    Paper: `The Principle of Diversity: Training Stronger Vision Transformers
    Calls for Reducing All Levels of Redundancy
    <https://arxiv.org/abs/2203.06345>`_ (Chen et al. 2022).

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        num_iters (int): Power iterations per call (``'persistent'``).
            Defaults to 1.
        init_iters (int): Extra iterations when a matrix's vectors are
            created (``'persistent'``). Defaults to 10.
        eps (float): Norm threshold of the power iteration. Defaults to
            1e-12.
        estimator (str): ``'persistent'`` (ours) or ``'fresh_rayleigh'``
            (Diverse-ViT). Defaults to ``'persistent'``.
        generator (torch.Generator, optional): Source of the
            ``'fresh_rayleigh'`` start vectors (e.g. for tests); configs
            leave it None (the global RNG). Defaults to None.
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 num_iters: int = 1,
                 init_iters: int = 10,
                 eps: float = 1e-12,
                 estimator: str = 'persistent',
                 generator: Optional[torch.Generator] = None) -> None:
        super().__init__()
        if num_iters < 0 or init_iters < 0:
            raise ValueError('num_iters and init_iters must be >= 0, got '
                             f'{num_iters} and {init_iters}')
        if estimator not in ESTIMATORS:
            raise ValueError(f'{type(self).__name__}: estimator must be one '
                             f'of {ESTIMATORS}, got {estimator!r}')
        self.loss_weight = loss_weight
        self.num_iters = num_iters
        self.init_iters = init_iters
        self.eps = eps
        self.estimator = estimator
        self.generator = generator

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

    def forward(self,
                weights: Iterable[torch.Tensor],
                vectors: Optional[Sequence[torch.Tensor]] = None
                ) -> torch.Tensor:
        """Compute the loss.

        Args:
            weights (Iterable[Tensor]): 2-D weight matrices ``(rows, cols)``,
                e.g. the q, k, v slices of every block's ``qkv`` projection
                (``qkv.weight.chunk(3)``). The order must be the same at
                every call (vectors are keyed by position).
            vectors (Sequence[Tensor], optional): ``'fresh_rayleigh'`` only:
                explicit start vectors instead of fresh draws, one
                ``(2, min(rows, cols))`` tensor per matrix (``[0]`` for
                sigma_max, ``[1]`` for the shifted estimate). Defaults to
                None.

        Returns:
            Tensor: Scalar loss, already multiplied by ``loss_weight``.
        """
        weights = self._check(weights)
        if vectors is not None:
            vectors = self._check_vectors(weights, vectors)
        groups = OrderedDict()
        for index, w in enumerate(weights):
            oriented = w if w.shape[0] >= w.shape[1] else w.transpose(0, 1)
            key = (tuple(oriented.shape), w.device, w.dtype)
            groups.setdefault(key, []).append((index, oriented))

        device = weights[0].device
        total = None
        with autocast_off(device):
            for members in groups.values():
                if self.estimator == 'fresh_rayleigh':
                    gap = self._fresh_group_gap(members, vectors)
                else:
                    gap = self._group_gap(members)
                total = gap if total is None else total + gap.to(total)
        return self.loss_weight * total

    def _check_vectors(self, weights, vectors) -> List[torch.Tensor]:
        owner = type(self).__name__
        if self.estimator != 'fresh_rayleigh':
            raise ValueError(f'{owner}: explicit vectors need '
                             "estimator='fresh_rayleigh'")
        vectors = list(vectors)
        if len(vectors) != len(weights):
            raise ValueError(f'{owner} expects one vectors entry per weight '
                             f'matrix, got {len(vectors)} for {len(weights)}')
        for i, (w, v) in enumerate(zip(weights, vectors)):
            if not torch.is_tensor(v) or v.shape != (2, min(w.shape)):
                got = fmt_shape(v) if torch.is_tensor(v) else type(v).__name__
                raise ValueError(f'{owner} expects vectors[{i}] of shape '
                                 f'(2, {min(w.shape)}), got {got}')
        return vectors

    def _fresh_group_gap(self, members, vectors) -> torch.Tensor:
        """Diverse-ViT's gap sum over same-shape matrices (autograd on)."""
        oriented = [w for _, w in members]  # G matrices (m, n)
        dtype, device = compute_dtype(oriented[0]), oriented[0].device
        if vectors is None:
            start = uniform_start_vectors(len(members), oriented[0].shape[-1],
                                          device, dtype, self.generator)
        else:
            start = torch.stack([vectors[i] for i, _ in members]).to(
                device=device, dtype=dtype)
        sigma_sq = rayleigh_extremes(oriented, start)  # (G, 2)
        return (sigma_sq[:, 0] - sigma_sq[:, 1]).pow(2).sum()

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
            vectors, _ = unit_rows(vectors, vectors, self.eps)
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
        return SpectralGap.apply(images, vectors, *oriented)

    def extra_repr(self) -> str:
        if self.estimator == 'fresh_rayleigh':
            return (f'loss_weight={self.loss_weight}, '
                    "estimator='fresh_rayleigh'")
        return (f'loss_weight={self.loss_weight}, num_iters={self.num_iters}, '
                f'init_iters={self.init_iters}')
