"""rayleigh_extremes (Diverse-ViT's estimates) against its formula in
float64: both estimates and the gradient of each, part by part."""

import pytest
import torch

from mmdiverse.models.losses.rayleigh_extremes import rayleigh_extremes, uniform_start_vectors


def formula(w, x1, x2):
    """lambda = x^T M^3 x / x^T M^2 x with M = W^T W formed, then the same
    on M - lambda_max I, plus lambda_max (sigma_min^2)."""
    m = w.T @ w

    def rayleigh(a, v):
        a2 = a @ a
        return (v @ a2 @ a @ v) / (v @ a2 @ v)

    lam_max = rayleigh(m, x1)
    shifted = m - lam_max * torch.eye(m.shape[0], dtype=m.dtype)
    return torch.stack((lam_max, rayleigh(shifted, x2) + lam_max))


def fused_parts(seed, sizes=(3, 1), rows=10, cols=6):
    gen = torch.Generator().manual_seed(seed)
    return [
        torch.randn(k, rows, cols, generator=gen, dtype=torch.float64).requires_grad_()
        for k in sizes
    ]


def test_each_estimate_and_its_gradient_match_the_formula():
    parts = fused_parts(0)
    vectors = uniform_start_vectors(
        4, 6, torch.device('cpu'), torch.float64, torch.Generator().manual_seed(1)
    )
    lam = rayleigh_extremes(parts, vectors)
    matrices = [m for p in parts for m in p]
    ref = torch.stack([formula(m, *x) for m, x in zip(matrices, vectors)])
    torch.testing.assert_close(lam, ref, rtol=1e-11, atol=0)
    # an upstream gradient that weighs the two estimates differently
    upstream = torch.tensor([[0.3, -1.7], [2.0, 0.5], [-0.4, 0.9], [1.0, 1.0]], dtype=torch.float64)
    grads = torch.autograd.grad((lam * upstream).sum(), parts)
    ref_grads = torch.autograd.grad((ref * upstream).sum(), parts)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-8, atol=1e-13)


def test_gradcheck():
    parts = fused_parts(2, sizes=(2,), rows=5, cols=4)
    vectors = torch.rand(2, 2, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    assert torch.autograd.gradcheck(lambda *p: rayleigh_extremes(p, vectors), parts)


def test_a_zero_matrix_gives_zero_estimates_and_gradient():
    parts = [torch.zeros(1, 4, 4, requires_grad=True)]
    lam = rayleigh_extremes(parts, torch.rand(1, 2, 4))
    lam.sum().backward()
    assert torch.equal(lam, torch.zeros(1, 2))
    assert torch.equal(parts[0].grad, torch.zeros(1, 4, 4))


def test_half_precision_parts_compute_in_float32():
    parts = [p.detach().to(torch.bfloat16).requires_grad_() for p in fused_parts(4)]
    lam = rayleigh_extremes(parts, torch.rand(4, 2, 6))
    lam.sum().backward()
    assert lam.dtype == torch.float32
    assert all(p.grad.dtype == torch.bfloat16 for p in parts)


def test_shapes_are_checked():
    parts = fused_parts(5)
    with pytest.raises(
        ValueError,
        match=r'vectors \(sum k_i, 2, n\), got '
        r'parts \[\(3, 10, 6\), \(1, 10, 6\)\] and vectors '
        r'\(3, 2, 6\)',
    ):
        rayleigh_extremes(parts, torch.rand(3, 2, 6))
    with pytest.raises(ValueError, match='one \\(m, n\\)'):
        rayleigh_extremes([parts[0], torch.rand(1, 6, 6)], torch.rand(4, 2, 6))
