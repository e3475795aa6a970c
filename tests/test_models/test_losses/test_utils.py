"""mmdiverse.models.losses.utils: the shape checks and the compute dtype
shared by the regularizer losses."""

import pytest
import torch

from mmdiverse.models.losses.utils import (
    autocast_off,
    check_rank,
    check_same_batch,
    compute_dtype,
    fmt_shape,
    normalize,
    to_compute,
)


def test_check_rank_names_the_owner_the_argument_and_the_shape():
    check_rank('PatchCosineLoss', 'tokens', torch.zeros(2, 3, 4), '(B, n, d)')
    with pytest.raises(
        ValueError,
        match=r'^PatchCosineLoss expects tokens of '
        r'shape \(B, n, d\), got \(2, 3\)$',
    ):
        check_rank('PatchCosineLoss', 'tokens', torch.zeros(2, 3), '(B, n, d)')
    with pytest.raises(ValueError, match='got list'):
        check_rank('PatchCosineLoss', 'tokens', [1, 2], '(B, n, d)')


def test_check_same_batch_lists_every_shape():
    check_same_batch('L', ('a', 'b'), (torch.zeros(2, 1), torch.zeros(2, 5)))
    with pytest.raises(
        ValueError,
        match=r'same batch size B, got a \(2, 1\), '
        r'b \(3, 1\)',
    ):
        check_same_batch('L', ('a', 'b'), (torch.zeros(2, 1), torch.zeros(3, 1)))
    assert fmt_shape(torch.zeros(4, 1)) == '(4, 1)'


def test_compute_dtype_is_at_least_float32():
    assert compute_dtype(torch.zeros(1, dtype=torch.float16)) == torch.float32
    assert compute_dtype(torch.zeros(1, dtype=torch.bfloat16)) == torch.float32
    assert compute_dtype(torch.zeros(1, dtype=torch.float64)) == torch.float64
    assert compute_dtype(torch.zeros(1, dtype=torch.int64)) == torch.float32
    x = torch.zeros(3)
    assert to_compute(x) is x  # no copy when already there


def test_autocast_off_keeps_matmuls_in_float32():
    a = torch.randn(4, 4)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert (a @ a).dtype == torch.bfloat16
        with autocast_off(a.device):
            assert (a @ a).dtype == torch.float32


def test_normalize_keeps_zero_rows_and_their_gradient_finite():
    x = torch.tensor([[3.0, 4.0], [0.0, 0.0]], requires_grad=True)
    y = normalize(x, eps=1e-8)
    torch.testing.assert_close(y, torch.tensor([[0.6, 0.8], [0.0, 0.0]]))
    y.sum().backward()
    assert torch.isfinite(x.grad).all()
