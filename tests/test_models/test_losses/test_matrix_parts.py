"""matrix_parts: products with a stack of matrices held as its parts equal
the stacked products, and never allocate the (G, m, n) stack."""

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from mmdiverse.models.losses.matrix_parts import outer_parts, part_sizes, parts_times, times_parts


class LargestOutput(TorchDispatchMode):
    """The largest number of elements of any tensor an op returns."""

    def __init__(self):
        super().__init__()
        self.numel = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if torch.is_tensor(t):
                self.numel = max(self.numel, t.numel())
        return out


def parts_and_stack():
    gen = torch.Generator().manual_seed(0)
    parts = [torch.randn(k, 12, 8, generator=gen, dtype=torch.float64) for k in (3, 1, 3)]
    return parts, torch.cat(parts)


def test_products_equal_the_stacked_products():
    parts, stacked = parts_and_stack()
    assert part_sizes(parts) == [3, 1, 3]
    right = torch.randn(7, 8, 2, dtype=torch.float64)
    left = torch.randn(7, 2, 12, dtype=torch.float64)
    torch.testing.assert_close(
        parts_times(parts, right), torch.bmm(stacked, right), rtol=1e-13, atol=0
    )
    torch.testing.assert_close(
        times_parts(left, parts), torch.bmm(left, stacked), rtol=1e-13, atol=0
    )
    a, b = torch.randn(7, 12, 6, dtype=torch.float64), torch.randn(7, 6, 8, dtype=torch.float64)
    outer = outer_parts(a, b, part_sizes(parts))
    assert [tuple(o.shape) for o in outer] == [(3, 12, 8), (1, 12, 8), (3, 12, 8)]
    torch.testing.assert_close(torch.cat(outer), torch.bmm(a, b), rtol=1e-13, atol=0)


def test_no_tensor_the_size_of_the_stack_is_made():
    parts, stacked = parts_and_stack()
    right = torch.randn(7, 8, 2, dtype=torch.float64)
    left = torch.randn(7, 2, 12, dtype=torch.float64)
    a, b = torch.randn(7, 12, 6, dtype=torch.float64), torch.randn(7, 6, 8, dtype=torch.float64)
    with LargestOutput() as mode:
        parts_times(parts, right)
        times_parts(left, parts)
        outer_parts(a, b, part_sizes(parts))
    assert 0 < mode.numel <= max(p.numel() for p in parts) < stacked.numel()
    with LargestOutput() as control:  # the stacked product does make one
        torch.bmm(a, b)
    assert control.numel == stacked.numel()
