"""power_iteration_extremes and SpectralGap (the persistent estimator's
steps) in float64."""

import torch

from mmdiverse.models.losses.power_iteration import SpectralGap, power_iteration_extremes
from tests.helpers.spectra import SIGMAS, matrix


def test_power_iteration_extremes_is_batched():
    weights = torch.stack([matrix(8, 8, SIGMAS, s) for s in range(3)])
    start = torch.nn.functional.normalize(torch.randn(3, 2, 8, dtype=torch.float64), dim=-1)
    vectors = power_iteration_extremes(weights, start, num_iters=400)
    sigma_sq = torch.bmm(weights, vectors.transpose(1, 2)).pow(2).sum(1)
    expected = torch.tensor([[SIGMAS[0] ** 2, SIGMAS[-1] ** 2]] * 3, dtype=torch.float64)
    torch.testing.assert_close(sigma_sq, expected, rtol=1e-10, atol=0)


def test_parts_iterate_as_their_stack():
    weights = torch.stack([matrix(8, 8, SIGMAS, s) for s in range(3)])
    start = torch.nn.functional.normalize(torch.randn(3, 2, 8, dtype=torch.float64), dim=-1)
    stacked = power_iteration_extremes(weights, start, num_iters=5)
    parts = power_iteration_extremes([weights[:2], weights[2:]], start, num_iters=5)
    torch.testing.assert_close(parts, stacked, rtol=1e-13, atol=0)


def test_spectral_gap_gradient_treats_the_vectors_as_constants():
    parts = [
        torch.stack([matrix(8, 8, SIGMAS, s) for s in range(2)]),
        matrix(8, 8, SIGMAS, 2).unsqueeze(0),
    ]
    parts = [p.requires_grad_() for p in parts]
    vectors = torch.nn.functional.normalize(torch.rand(3, 2, 8, dtype=torch.float64), dim=-1)
    images = torch.cat(
        [torch.bmm(p, vectors[i : i + p.shape[0]].transpose(1, 2)) for i, p in zip((0, 2), parts)]
    )
    value = SpectralGap.apply(images.detach(), vectors, *parts)
    grads = torch.autograd.grad(value, parts)
    # the same expression through autograd, vectors constant
    sigma_sq = images.pow(2).sum(1)
    ref = (sigma_sq[:, 0] - sigma_sq[:, 1]).pow(2).sum()
    torch.testing.assert_close(value, ref, rtol=1e-13, atol=0)
    for g, r in zip(grads, torch.autograd.grad(ref, parts)):
        torch.testing.assert_close(g, r, rtol=1e-11, atol=1e-13)
