"""PatchMixingLoss against a per-patch loop reference in float64."""

import pytest
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from mmdiverse.models.losses import PatchMixingLoss, patch_mixing_loss


def reference(logits, targets):
    """Soft cross-entropy of each patch, one patch at a time."""
    logits, targets = logits.double(), targets.double()
    batch, n, _ = logits.shape
    per_image = []
    for b in range(batch):
        total = 0.0
        for i in range(n):
            log_p = logits[b, i] - torch.logsumexp(logits[b, i], dim=0)
            total = total - (targets[b, i] * log_p).sum()
        per_image.append(total / n)
    return torch.stack(per_image).mean()


def soft_targets(batch, n, classes, seed):
    gen = torch.Generator().manual_seed(seed)
    # mixes of two one-hot classes with per-patch area shares, like CutMix
    a = torch.randint(classes, (batch, 1), generator=gen)
    b = torch.randint(classes, (batch, 1), generator=gen)
    share = torch.rand(batch, n, 1, generator=gen, dtype=torch.float64)
    return (share * F.one_hot(a, classes) + (1 - share) * F.one_hot(b, classes)).double()


@pytest.mark.parametrize('shape', [(3, 7, 5), (1, 1, 4), (5, 16, 10)])
def test_matches_float64_reference(shape):
    torch.manual_seed(0)
    logits = 3 * torch.randn(*shape, dtype=torch.float64)
    targets = soft_targets(*shape, seed=1)
    x = logits.clone().requires_grad_()
    value = PatchMixingLoss()(x, targets)
    (grad,) = torch.autograd.grad(value, x)
    y = logits.clone().requires_grad_()
    ref = reference(y, targets)
    (ref_grad,) = torch.autograd.grad(ref, y)
    torch.testing.assert_close(value, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-10, atol=1e-14)


def test_gradcheck_logits_and_targets():
    # the custom backward, including the rarely used target gradient and
    # targets that do not sum to 1
    torch.manual_seed(1)
    logits = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    targets = torch.rand(2, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda z, y: patch_mixing_loss(z, y, reduction='none'), (logits, targets)
    )


def test_hard_targets_equal_cross_entropy():
    torch.manual_seed(2)
    logits = torch.randn(3, 9, 6)
    labels = torch.randint(6, (3, 9))
    value = PatchMixingLoss()(logits, F.one_hot(labels, 6).float())
    expected = F.cross_entropy(logits.reshape(-1, 6), labels.reshape(-1))
    torch.testing.assert_close(value, expected)


def test_loss_weight_registry_and_reduction():
    torch.manual_seed(3)
    logits, targets = torch.randn(3, 5, 4), soft_targets(3, 5, 4, 4).float()
    loss = MODELS.build(dict(type='PatchMixingLoss', loss_weight=0.5))
    assert isinstance(loss, PatchMixingLoss)
    torch.testing.assert_close(loss(logits, targets), 0.5 * PatchMixingLoss()(logits, targets))
    per_image = patch_mixing_loss(logits, targets, reduction='none')
    assert per_image.shape == (3,)
    torch.testing.assert_close(per_image.mean(), PatchMixingLoss()(logits, targets))


def test_float32_under_autocast():
    torch.manual_seed(5)
    logits, targets = 4 * torch.randn(2, 49, 100), soft_targets(2, 49, 100, 6).float()
    expected = PatchMixingLoss()(logits, targets)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        bf16_in = PatchMixingLoss()(logits.bfloat16(), targets.bfloat16())
    assert bf16_in.dtype == torch.float32
    torch.testing.assert_close(bf16_in, expected, rtol=2e-2, atol=1e-2)


def test_errors_name_the_shapes():
    loss = PatchMixingLoss()
    with pytest.raises(
        ValueError,
        match=r'got patch_logits \(2, 4, 8\) and '
        r'patch_targets \(3, 4, 8\)',
    ):
        loss(torch.randn(2, 4, 8), torch.rand(3, 4, 8))
    with pytest.raises(
        ValueError,
        match=r'got patch_logits \(2, 4, 8\) and '
        r'patch_targets \(2, 4, 7\)',
    ):
        loss(torch.randn(2, 4, 8), torch.rand(2, 4, 7))
    with pytest.raises(
        ValueError,
        match=r'expects patch_logits of shape '
        r'\(B, n, K\), got \(8, 8\)',
    ):
        loss(torch.randn(8, 8), torch.rand(8, 8))
    with pytest.raises(
        ValueError,
        match=r'patch_targets of shape '
        r'\(B, n, K\), got \(2, 32\)',
    ):
        loss(torch.randn(2, 4, 8), torch.rand(2, 32))
    with pytest.raises(ValueError, match=r'non-empty.*\(2, 0, 8\)'):
        loss(torch.randn(2, 0, 8), torch.rand(2, 0, 8))


def test_token_mean_composition_is_the_patch_part_of_the_mean_over_n_plus_1():
    """composition='token_mean' (Diverse-ViT): w * sum_i CE_i / (n + 1); the
    class token's CE gets class_token_weight = w / (n + 1)."""
    torch.manual_seed(6)
    logits = torch.randn(3, 7, 5, dtype=torch.float64)
    targets = soft_targets(3, 7, 5, 7)
    loss = PatchMixingLoss(loss_weight=0.8, composition='token_mean')
    torch.testing.assert_close(loss(logits, targets), 0.8 * 7 / 8 * reference(logits, targets))
    assert loss.class_token_weight(7) == pytest.approx(0.8 / 8)
    cls_logits, cls_targets = torch.randn(3, 1, 5, dtype=torch.float64), soft_targets(3, 1, 5, 8)
    all_tokens = reference(torch.cat([cls_logits, logits], 1), torch.cat([cls_targets, targets], 1))
    torch.testing.assert_close(
        loss(logits, targets) + loss.class_token_weight(7) * reference(cls_logits, cls_targets),
        0.8 * all_tokens,
    )


def test_separate_composition_is_the_default():
    loss = MODELS.build(dict(type='PatchMixingLoss', loss_weight=0.5))
    assert loss.composition == 'separate' and loss.class_token_weight(196) == 1.0
    with pytest.raises(ValueError, match=r"composition='mean'"):
        PatchMixingLoss(composition='mean')
