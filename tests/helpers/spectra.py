"""Matrices with chosen singular values, for the weight-conditioning estimator tests."""

import torch


def matrix(rows, cols, sigmas, seed):
    """A float64 matrix with the given singular values."""
    gen = torch.Generator().manual_seed(seed)
    u, _ = torch.linalg.qr(torch.randn(rows, rows, generator=gen, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(cols, cols, generator=gen, dtype=torch.float64))
    s = torch.zeros(rows, cols, dtype=torch.float64)
    k = min(rows, cols)
    s[range(k), range(k)] = torch.tensor(sigmas, dtype=torch.float64)
    return u @ s @ v.T


# separated extremes so that a few hundred iterations converge to ~1e-10
SIGMAS = [3.0, 2.4, 2.0, 1.7, 1.5, 1.3, 1.1, 0.4]
