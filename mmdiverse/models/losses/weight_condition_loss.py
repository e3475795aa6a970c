"""Weight-conditioning regularizer (Chen et al. 2022, Diverse-ViT)."""

from collections import OrderedDict
from typing import Iterable, List, Optional, Sequence, Tuple

import torch
from mmpretrain.registry import MODELS

from .matrix_parts import parts_times
from .power_iteration import SpectralGap, power_iteration_extremes, unit_rows
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

    Matrices of equal shape, dtype and device are processed by batched
    products, part by part (:mod:`.matrix_parts`: no stacked copy of the
    weights); backward builds the gradient from the saved ``W v`` and ``v``
    vectors, so no copy of the weights is kept between forward and
    backward. Per call this costs ``2 * num_iters + 1`` passes over ``W``
    or ``W^T`` (products with two vectors), ``O(rows * cols)`` each, and
    never forms ``W^T W``. Runs in at least float32 with autocast off.

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
    plus one rank-6 product backward, part by part (no stacked copy). The
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

    def __init__(
        self,
        loss_weight: float = 1.0,
        num_iters: int = 1,
        init_iters: int = 10,
        eps: float = 1e-12,
        estimator: str = 'persistent',
        generator: Optional[torch.Generator] = None,
    ) -> None:
        super().__init__()
        if num_iters < 0 or init_iters < 0:
            raise ValueError(
                f'num_iters and init_iters must be >= 0, got {num_iters} and {init_iters}'
            )
        if estimator not in ESTIMATORS:
            raise ValueError(
                f'{type(self).__name__}: estimator must be one of {ESTIMATORS}, got {estimator!r}'
            )
        self.loss_weight = loss_weight
        self.num_iters = num_iters
        self.init_iters = init_iters
        self.eps = eps
        self.estimator = estimator
        self.generator = generator

    # ---------------------------------------------------------------- state
    @staticmethod
    def _initial_vectors(index: int, size: int, device: torch.device) -> torch.Tensor:
        gen = torch.Generator().manual_seed(_INIT_SEED + index)
        vec = torch.randn(2, size, generator=gen, dtype=torch.float32)
        vec = vec / torch.linalg.vector_norm(vec, dim=-1, keepdim=True)
        return vec.to(device)

    def _vectors(self, index: int, size: int, device: torch.device) -> Tuple[torch.Tensor, bool]:
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
        if (
            buf is not None
            and buf.shape == vec.shape
            and buf.device == vec.device
            and buf.dtype == torch.float32
        ):
            buf.copy_(vec)
        else:
            self.register_buffer(name, vec.detach().float().clone())

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Buffers are created lazily: create the ones the checkpoint has so
        # that loading restores them instead of reporting unexpected keys.
        for key, value in state_dict.items():
            if key.startswith(prefix + _BUFFER_PREFIX):
                name = key[len(prefix) :]
                if name[len(_BUFFER_PREFIX) :].isdigit():
                    current = self._buffers.get(name)
                    if current is None or current.shape != value.shape:
                        self.register_buffer(name, torch.empty_like(value, dtype=torch.float32))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # -------------------------------------------------------------- compute
    def _check(self, weights) -> List[torch.Tensor]:
        """The entries as parts ``(k, rows, cols)`` (a matrix is ``k = 1``)."""
        owner = type(self).__name__
        if torch.is_tensor(weights) or not hasattr(weights, '__iter__'):
            got = fmt_shape(weights) if torch.is_tensor(weights) else type(weights).__name__
            raise ValueError(
                f'{owner} expects a list of weight matrices '
                f'(rows, cols) or (k, rows, cols), got {got}'
            )
        weights = list(weights)
        if len(weights) == 0:
            raise ValueError(f'{owner} expects at least one weight matrix')
        parts = []
        for i, w in enumerate(weights):
            if not torch.is_tensor(w) or w.dim() not in (2, 3) or (w.numel() == 0):
                got = fmt_shape(w) if torch.is_tensor(w) else type(w).__name__
                raise ValueError(
                    f'{owner} expects weights[{i}] of shape '
                    f'(rows, cols) or (k, rows, cols), got {got}'
                )
            parts.append(w.unsqueeze(0) if w.dim() == 2 else w)
        return parts

    def forward(
        self, weights: Iterable[torch.Tensor], vectors: Optional[Sequence[torch.Tensor]] = None
    ) -> torch.Tensor:
        """Compute the loss.

        Args:
            weights (Iterable[Tensor]): Weight matrices ``(rows, cols)``
                and/or stacks ``(k, rows, cols)`` of ``k`` matrices, e.g.
                ``qkv.weight.view(3, d, d_in)`` for the q, k and v parts of
                a fused projection (what the taps' ``qkv_weights()`` give:
                the gradient then reaches ``qkv.weight`` without a copy). The
                matrices are numbered in order, the ``k`` of a stack one
                after the other; the order must be the same at every call
                (vectors are keyed by that number).
            vectors (Sequence[Tensor], optional): ``'fresh_rayleigh'`` only:
                explicit start vectors instead of fresh draws, one
                ``(2, min(rows, cols))`` tensor per matrix (``[0]`` for
                sigma_max, ``[1]`` for the shifted estimate). Defaults to
                None.

        Returns:
            Tensor: Scalar loss, already multiplied by ``loss_weight``.
        """
        parts = self._check(weights)
        if vectors is not None:
            vectors = self._check_vectors(parts, vectors)
        groups = OrderedDict()
        start = 0
        for part in parts:
            oriented = part if part.shape[1] >= part.shape[2] else part.transpose(1, 2)
            key = (tuple(oriented.shape[1:]), part.device, part.dtype)
            groups.setdefault(key, []).append((start, oriented))
            start += part.shape[0]

        device = parts[0].device
        total = None
        with autocast_off(device):
            for members in groups.values():
                if self.estimator == 'fresh_rayleigh':
                    gap = self._fresh_group_gap(members, vectors)
                else:
                    gap = self._group_gap(members)
                total = gap if total is None else total + gap.to(total)
        return self.loss_weight * total

    def _check_vectors(self, parts, vectors) -> List[torch.Tensor]:
        owner = type(self).__name__
        if self.estimator != 'fresh_rayleigh':
            raise ValueError(f"{owner}: explicit vectors need estimator='fresh_rayleigh'")
        vectors = list(vectors)
        sizes = [min(p.shape[1:]) for p in parts for _ in range(p.shape[0])]
        if len(vectors) != len(sizes):
            raise ValueError(
                f'{owner} expects one vectors entry per weight '
                f'matrix, got {len(vectors)} for {len(sizes)}'
            )
        for i, (size, v) in enumerate(zip(sizes, vectors)):
            if not torch.is_tensor(v) or v.shape != (2, size):
                got = fmt_shape(v) if torch.is_tensor(v) else type(v).__name__
                raise ValueError(f'{owner} expects vectors[{i}] of shape (2, {size}), got {got}')
        return vectors

    @staticmethod
    def _indices(members) -> List[int]:
        """The matrix numbers of a group's parts, in order."""
        return [start + k for start, part in members for k in range(part.shape[0])]

    def _fresh_group_gap(self, members, vectors) -> torch.Tensor:
        """Diverse-ViT's gap sum over same-shape matrices (autograd on)."""
        parts = [part for _, part in members]  # (k_i, m, n)
        indices = self._indices(members)
        dtype, device = compute_dtype(parts[0]), parts[0].device
        if vectors is None:
            start = uniform_start_vectors(
                len(indices), parts[0].shape[-1], device, dtype, self.generator
            )
        else:
            start = torch.stack([vectors[i] for i in indices]).to(device=device, dtype=dtype)
        sigma_sq = rayleigh_extremes(parts, start)  # (G, 2)
        return (sigma_sq[:, 0] - sigma_sq[:, 1]).pow(2).sum()

    def _group_gap(self, members) -> torch.Tensor:
        """Sum of ``(sigma_max^2 - sigma_min^2)^2`` over same-shape matrices."""
        parts = [part for _, part in members]  # (k_i, m, n)
        indices = self._indices(members)
        with torch.no_grad():
            # products part by part: no (G, m, n) copy (see matrix_parts)
            detached = [p.detach().to(compute_dtype(p)) for p in parts]
            size, device = parts[0].shape[-1], parts[0].device
            stored, fresh = zip(*(self._vectors(i, size, device) for i in indices))
            # (G, 2, n); renormalize: float32 storage is unit only to ~1e-7
            vectors = torch.stack(stored).to(detached[0].dtype)
            vectors, _ = unit_rows(vectors, vectors, self.eps)
            if any(fresh) and self.init_iters:
                warm = power_iteration_extremes(detached, vectors, self.init_iters, self.eps)
                is_fresh = torch.tensor(fresh, device=device).view(-1, 1, 1)
                vectors = torch.where(is_fresh, warm, vectors)
            vectors = power_iteration_extremes(detached, vectors, self.num_iters, self.eps)
            if self.training:
                for index, vec in zip(indices, vectors.float()):
                    self._store(index, vec)
            images = parts_times(detached, vectors.transpose(1, 2))
        return SpectralGap.apply(images, vectors, *parts)

    def extra_repr(self) -> str:
        if self.estimator == 'fresh_rayleigh':
            return f"loss_weight={self.loss_weight}, estimator='fresh_rayleigh'"
        return (
            f'loss_weight={self.loss_weight}, num_iters={self.num_iters}, '
            f'init_iters={self.init_iters}'
        )
