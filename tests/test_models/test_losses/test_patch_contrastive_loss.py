"""PatchContrastiveLoss against a naive float64 n x n reference."""

import math

import pytest
import torch
from mmpretrain.registry import MODELS

from mmdiverse.models.losses import (
    PatchContrastiveLoss,
    patch_contrastive_loss,
    pool_tokens_to_grid,
)


def normalize(x, eps=1e-8):
    return x / x.norm(dim=-1, keepdim=True).clamp_min(eps)


def reference(first, last, eps=1e-8):
    """Full similarity matrix s_ij, then Gong et al. 2021's log-ratio (docs/regularizers.md)."""
    f, l_ = normalize(first.double(), eps), normalize(last.double(), eps)
    sim = f @ l_.transpose(1, 2)  # (B, n, n)
    n = sim.shape[-1]
    pos = torch.diagonal(sim, dim1=1, dim2=2)
    neg = (sim.sum(dim=-1) - pos) / (n - 1)
    ratio = torch.exp(pos) / (torch.exp(pos) + torch.exp(neg))
    return (-torch.log(ratio)).mean(dim=1).mean()


def reference_pool(tokens, src_hw, dst_hw):
    """Adaptive average pooling written out cell by cell."""
    (h, w), (oh, ow) = src_hw, dst_hw
    grid = tokens.reshape(tokens.shape[0], h, w, tokens.shape[-1])
    cells = []
    for i in range(oh):
        r0, r1 = (i * h) // oh, math.ceil((i + 1) * h / oh)
        for j in range(ow):
            c0, c1 = (j * w) // ow, math.ceil((j + 1) * w / ow)
            cells.append(grid[:, r0:r1, c0:c1].mean(dim=(1, 2)))
    return torch.stack(cells, dim=1)


def grads(fn, *tensors):
    xs = [t.detach().clone().requires_grad_() for t in tensors]
    value = fn(*xs)
    return value.detach(), torch.autograd.grad(value, xs, allow_unused=True)


@pytest.mark.parametrize('shape', [(3, 7, 5), (1, 2, 4), (5, 30, 8)])
def test_matches_float64_reference(shape):
    torch.manual_seed(0)
    first = torch.randn(*shape, dtype=torch.float64)
    last = first + 0.5 * torch.randn(*shape, dtype=torch.float64)
    loss = PatchContrastiveLoss(detach_first=False)
    value, (g_first, g_last) = grads(loss, first, last)
    ref, (r_first, r_last) = grads(reference, first, last)
    torch.testing.assert_close(value, ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(g_first, r_first, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(g_last, r_last, rtol=1e-9, atol=1e-12)


def test_detach_first_blocks_gradient_only():
    torch.manual_seed(1)
    first = torch.randn(3, 9, 6, dtype=torch.float64)
    last = torch.randn(3, 9, 6, dtype=torch.float64)
    value, (g_first, g_last) = grads(PatchContrastiveLoss(), first, last)
    ref, (_, r_last) = grads(reference, first, last)
    assert g_first is None
    torch.testing.assert_close(value, ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(g_last, r_last, rtol=1e-9, atol=1e-12)


def test_aligned_tokens_score_lower_than_shuffled():
    torch.manual_seed(2)
    last = torch.randn(2, 16, 32)
    aligned = PatchContrastiveLoss()(last, last)
    shuffled = PatchContrastiveLoss()(last[:, torch.randperm(16)], last)
    assert aligned < shuffled


@pytest.mark.parametrize('src_hw,dst_hw', [((8, 6), (4, 3)), ((7, 5), (3, 2)), ((4, 4), (4, 4))])
def test_pool_first_grid_to_last_grid(src_hw, dst_hw):
    torch.manual_seed(3)
    batch, dim = 3, 5
    first = torch.randn(batch, src_hw[0] * src_hw[1], dim, dtype=torch.float64)
    last = torch.randn(batch, dst_hw[0] * dst_hw[1], dim, dtype=torch.float64)
    pooled = pool_tokens_to_grid(first, src_hw, dst_hw)
    torch.testing.assert_close(pooled, reference_pool(first, src_hw, dst_hw))
    loss = PatchContrastiveLoss(detach_first=False)
    value, (g_first, g_last) = grads(
        lambda f, l_: loss(f, l_, first_hw=src_hw, last_hw=dst_hw), first, last
    )
    ref, (r_first, r_last) = grads(
        lambda f, l_: reference(reference_pool(f, src_hw, dst_hw), l_), first, last
    )
    torch.testing.assert_close(value, ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(g_first, r_first, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(g_last, r_last, rtol=1e-9, atol=1e-12)


def test_zero_tokens_are_finite():
    first = torch.randn(3, 5, 4, dtype=torch.float64)
    last = torch.randn(3, 5, 4, dtype=torch.float64)
    first[0, 1] = 0
    last[1] = 0
    loss = PatchContrastiveLoss(detach_first=False)
    value, (g_first, g_last) = grads(loss, first, last)
    ref, (r_first, r_last) = grads(reference, first, last)
    torch.testing.assert_close(value, ref, rtol=1e-10, atol=1e-12)
    assert torch.isfinite(g_first).all() and torch.isfinite(g_last).all()
    torch.testing.assert_close(g_last / 1e8, r_last / 1e8, rtol=0, atol=1e-12)


def test_loss_weight_registry_and_reduction():
    torch.manual_seed(4)
    first, last = torch.randn(3, 6, 4), torch.randn(3, 6, 4)
    loss = MODELS.build(dict(type='PatchContrastiveLoss', loss_weight=0.5))
    assert isinstance(loss, PatchContrastiveLoss)
    torch.testing.assert_close(loss(first, last), 0.5 * PatchContrastiveLoss()(first, last))
    per_image = patch_contrastive_loss(first, last, reduction='none')
    assert per_image.shape == (3,)
    torch.testing.assert_close(per_image.mean(), PatchContrastiveLoss()(first, last))


def test_float32_under_autocast():
    torch.manual_seed(5)
    first, last = torch.randn(2, 49, 16), torch.randn(2, 49, 16)
    big = torch.randn(2, 196, 16)
    expected = PatchContrastiveLoss()(first, last)
    expected_pool = PatchContrastiveLoss()(big, last, first_hw=(14, 14), last_hw=(7, 7))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        fp32_in = PatchContrastiveLoss()(first, last)
        bf16_in = PatchContrastiveLoss()(first.bfloat16(), last.bfloat16())
        pooled = PatchContrastiveLoss()(
            big.bfloat16(), last.bfloat16(), first_hw=(14, 14), last_hw=(7, 7)
        )
    for value in (fp32_in, bf16_in, pooled):
        assert value.dtype == torch.float32
    torch.testing.assert_close(fp32_in, expected, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(bf16_in, expected, rtol=1e-2, atol=1e-3)
    torch.testing.assert_close(pooled, expected_pool, rtol=1e-2, atol=1e-3)


def test_errors_name_the_shapes():
    loss = PatchContrastiveLoss()
    with pytest.raises(
        ValueError,
        match=r'got first \(2, 4, 8\) and '
        r'last \(2, 4, 6\)',
    ):
        loss(torch.randn(2, 4, 8), torch.randn(2, 4, 6))
    with pytest.raises(ValueError, match=r'first \(2, 16, 8\).*last \(3, 4, 8'):
        loss(torch.randn(2, 16, 8), torch.randn(3, 4, 8))
    with pytest.raises(ValueError, match=r'first_hw=\(h, w\)'):
        loss(torch.randn(2, 16, 8), torch.randn(2, 4, 8))
    with pytest.raises(ValueError, match=r'grid \(3, 5\).*\(2, 16, 8\)'):
        loss(torch.randn(2, 16, 8), torch.randn(2, 4, 8), first_hw=(3, 5), last_hw=(2, 2))
    with pytest.raises(ValueError, match=r'last_hw \(3, 3\).*\(2, 4, 8\)'):
        loss(torch.randn(2, 16, 8), torch.randn(2, 4, 8), first_hw=(4, 4), last_hw=(3, 3))
    with pytest.raises(
        ValueError,
        match=r'expects last of shape '
        r'\(B, n, d\), got \(4, 8\)',
    ):
        loss(torch.randn(2, 4, 8), torch.randn(4, 8))


def test_single_token_raises():
    # no other token is left as a negative: the term is undefined
    with pytest.raises(ValueError, match=r'at least 2 tokens.*\(2, 1, 8\)'):
        PatchContrastiveLoss()(torch.randn(2, 1, 8), torch.randn(2, 1, 8))
    with pytest.raises(ValueError, match='at least 2 tokens'):
        PatchContrastiveLoss()(
            torch.randn(2, 16, 8), torch.randn(2, 1, 8), first_hw=(4, 4), last_hw=(1, 1)
        )
