"""Batched products with a stack of matrices held as its parts.

The weight-conditioning estimators (:mod:`.power_iteration`,
:mod:`.rayleigh_extremes`) multiply ``G`` same-shape matrices by a few
vectors each. The matrices arrive as parts ``(k_i, m, n)``, e.g. one
``qkv.weight.view(3, d, d_in)`` per block, with ``sum k_i = G``. Stacking
them into one ``(G, m, n)`` tensor would copy every weight at every step
(42 MiB for DeiT-S24's 72 q/k/v matrices, a fresh allocation whose page
faults cost as much as the products on the CPU), and handing back one
``(G, m, n)`` gradient would make autograd split and re-concatenate it
per parameter. Products part by part do neither; only the small results
(``G`` rows of a few vectors) are concatenated.
"""

from typing import List, Sequence

import torch


def part_sizes(parts: Sequence[torch.Tensor]) -> List[int]:
    """``[k_1, k_2, ...]``: the leading size of each ``(k_i, m, n)`` part."""
    return [int(p.shape[0]) for p in parts]


def parts_times(parts: Sequence[torch.Tensor], right: torch.Tensor) -> torch.Tensor:
    """``W @ right`` for the stack ``W`` of ``parts``.

    Args:
        parts (Sequence[Tensor]): ``(k_i, m, n)`` parts of ``W (G, m, n)``.
        right (Tensor): ``(G, n, j)``.

    Returns:
        Tensor: ``(G, m, j)``.
    """
    rights = right.split(part_sizes(parts))
    return torch.cat([torch.bmm(p, r) for p, r in zip(parts, rights)])


def times_parts(left: torch.Tensor, parts: Sequence[torch.Tensor]) -> torch.Tensor:
    """``left @ W`` for the stack ``W`` of ``parts``.

    Args:
        left (Tensor): ``(G, j, m)``.
        parts (Sequence[Tensor]): ``(k_i, m, n)`` parts of ``W (G, m, n)``.

    Returns:
        Tensor: ``(G, j, n)``.
    """
    lefts = left.split(part_sizes(parts))
    return torch.cat([torch.bmm(l_, p) for l_, p in zip(lefts, parts)])


def outer_parts(
    left: torch.Tensor, right: torch.Tensor, sizes: Sequence[int]
) -> List[torch.Tensor]:
    """``left @ right`` (a sum of rank-one terms) cut into parts.

    Args:
        left (Tensor): ``(G, m, r)``.
        right (Tensor): ``(G, r, n)``.
        sizes (Sequence[int]): ``k_i`` of each part, summing to ``G``.

    Returns:
        list[Tensor]: ``(k_i, m, n)`` products, one tensor each (the
        gradients of the parts, without a ``(G, m, n)`` intermediate).
    """
    return [torch.bmm(l_, r) for l_, r in zip(left.split(sizes), right.split(sizes))]
