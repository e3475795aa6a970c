"""AttentionDiversityLoss against the explicit H x H cosine matrix."""

import pytest
import torch
from mmpretrain.registry import MODELS

from mmdiverse.models.losses import AttentionDiversityLoss, attention_head_similarity


def reference(attn, eps=1e-8):
    """Flatten heads, normalize, full H x H cosine matrix in float64."""
    maps = attn.double().flatten(2)
    maps = maps / maps.norm(dim=-1, keepdim=True).clamp_min(eps)
    cos = maps @ maps.transpose(1, 2)  # (B, H, H)
    return cos.mean(dim=(1, 2)).mean()


def random_attention(batch, heads, n_q, n_k=None, seed=0, dtype=None):
    gen = torch.Generator().manual_seed(seed)
    scores = 3 * torch.randn(
        batch, heads, n_q, n_k or n_q, generator=gen, dtype=dtype or torch.float64
    )
    return scores.softmax(dim=-1)


@pytest.mark.parametrize('shape', [(3, 4, 5, 5), (1, 6, 9, 9), (2, 3, 4, 7), (5, 1, 3, 3)])
def test_matches_float64_reference(shape):
    attn = random_attention(*shape)
    x = attn.clone().requires_grad_()
    value = AttentionDiversityLoss()(x)
    (grad,) = torch.autograd.grad(value, x)
    y = attn.clone().requires_grad_()
    ref = reference(y)
    (ref_grad,) = torch.autograd.grad(ref, y)
    torch.testing.assert_close(value, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-10, atol=1e-12)


def test_known_values():
    eye = torch.eye(4).expand(2, 4, 4, 4)  # identical heads: all cos = 1
    torch.testing.assert_close(AttentionDiversityLoss()(eye), torch.tensor(1.0))
    disjoint = torch.zeros(1, 4, 4, 4)  # head a attends only to key a
    for a in range(4):
        disjoint[0, a, :, a] = 1
    torch.testing.assert_close(AttentionDiversityLoss()(disjoint), torch.tensor(0.25))


def test_zero_head_matches_reference():
    attn = random_attention(2, 3, 4, seed=1)
    attn[0, 1] = 0
    attn[1, 2] *= 1e-10  # norm below eps: clamped, no radial gradient
    x = attn.clone().requires_grad_()
    value = AttentionDiversityLoss()(x)
    (grad,) = torch.autograd.grad(value, x)
    y = attn.clone().requires_grad_()
    ref = reference(y)
    (ref_grad,) = torch.autograd.grad(ref, y)
    torch.testing.assert_close(value, ref, rtol=1e-12, atol=1e-12)
    assert torch.isfinite(grad).all()
    # a zero head's gradient is of order 1/eps: compare relatively
    torch.testing.assert_close(grad / 1e8, ref_grad / 1e8, rtol=0, atol=1e-14)


def test_gradcheck():
    attn = random_attention(2, 3, 3, 4, seed=4).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda a: attention_head_similarity(a, reduction='none'), (attn,)
    )


def test_loss_weight_registry_and_reduction():
    attn = random_attention(3, 4, 6, seed=2, dtype=torch.float32)
    loss = MODELS.build(dict(type='AttentionDiversityLoss', loss_weight=1e-4))
    assert isinstance(loss, AttentionDiversityLoss)
    torch.testing.assert_close(loss(attn), 1e-4 * AttentionDiversityLoss()(attn))
    per_image = attention_head_similarity(attn, reduction='none')
    assert per_image.shape == (3,)
    torch.testing.assert_close(per_image.mean(), AttentionDiversityLoss()(attn))


def test_float32_under_autocast():
    attn = random_attention(2, 6, 50, seed=3, dtype=torch.float32)
    expected = AttentionDiversityLoss()(attn)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        fp32_in = AttentionDiversityLoss()(attn)
        bf16_in = AttentionDiversityLoss()(attn.bfloat16())
    assert fp32_in.dtype == torch.float32 and bf16_in.dtype == torch.float32
    torch.testing.assert_close(fp32_in, expected, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(bf16_in, expected, rtol=1e-2, atol=1e-3)


@pytest.mark.parametrize('bad', [(2, 3, 4), (2, 3, 4, 4, 1)])
def test_wrong_rank_raises(bad):
    pattern = r'AttentionDiversityLoss expects attn of shape \(B, H, N, N\), '
    pattern += r'got ' + repr(bad).replace('(', r'\(').replace(')', r'\)')
    with pytest.raises(ValueError, match=pattern):
        AttentionDiversityLoss()(torch.rand(*bad))
