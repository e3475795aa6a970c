"""The head side of patch mixing: per-token logits, targets, head CE weight."""
import pytest
import torch
from mmengine.registry import DefaultScope

import mmdiverse  # noqa: F401
from mmdiverse.models.diversity import patch_mixing
from mmdiverse.models.losses import PatchMixingLoss
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


def vit_head(hidden_dim=None, smooth=0.1):
    loss = dict(type='LabelSmoothLoss', label_smooth_val=smooth, mode='original')
    return MODELS.build(dict(type='VisionTransformerClsHead', num_classes=5, in_channels=8,
                             hidden_dim=hidden_dim, loss=loss))


@pytest.mark.parametrize('hidden_dim', [None, 6])
def test_vit_head_logits_of_every_token_equal_the_head_on_that_token(hidden_dim):
    torch.manual_seed(0)
    head = vit_head(hidden_dim)
    tokens = torch.randn(2, 3, 8)
    logits = patch_mixing.patch_logits(head, tokens)
    assert logits.shape == (2, 3, 5)
    for i in range(3):  # the head applied to token i as if it were the class token
        torch.testing.assert_close(logits[:, i], head([tokens[:, i]]))


def test_linear_head_logits_use_fc():
    torch.manual_seed(0)
    head = MODELS.build(dict(type='LinearClsHead', num_classes=5, in_channels=8))
    tokens = torch.randn(2, 3, 8)
    torch.testing.assert_close(patch_mixing.patch_logits(head, tokens),
                               tokens @ head.fc.weight.T + head.fc.bias)


def test_heads_and_necks_that_cannot_mix_are_refused():
    head = MODELS.build(dict(type='LinearClsHead', num_classes=5, in_channels=8))
    patch_mixing.check_patch_mix_head(head, None)
    with pytest.raises(ValueError, match='final linear layer'):
        patch_mixing.check_patch_mix_head(None, None)
    with pytest.raises(ValueError, match='parameter-free neck'):
        patch_mixing.check_patch_mix_head(head, torch.nn.Linear(8, 8))


def test_label_smoothing_follows_the_head_unless_overridden():
    assert patch_mixing.label_smoothing(vit_head(smooth=0.2)) == pytest.approx(0.2)
    assert patch_mixing.label_smoothing(vit_head(smooth=0.2), override=0.) == 0.
    plain = MODELS.build(dict(type='LinearClsHead', num_classes=5, in_channels=8))
    assert patch_mixing.label_smoothing(plain) == 0.


def test_targets_from_the_batch_tensor_are_smoothed():
    batch = torch.zeros(2, 3, 4)
    batch[..., 1] = 1.
    targets = patch_mixing.patch_targets([], torch.zeros(2, 3, 4), batch, eps=0.2)
    torch.testing.assert_close(targets[1, 2], torch.tensor([0.05, 0.85, 0.05, 0.05]))


def test_targets_of_a_wrong_grid_name_the_patch_size():
    with pytest.raises(ValueError, match=r'set PatchCutMix patch_size=8'):
        patch_mixing.patch_targets([], torch.zeros(2, 16, 4), torch.zeros(2, 4, 4),
                                   last_hw=(4, 4), input_hw=(32, 32))


def test_without_batch_targets_every_patch_takes_the_image_target():
    samples = [DataSample().set_gt_label(c) for c in (0, 3)]
    targets = patch_mixing.patch_targets(samples, torch.zeros(2, 16, 4), eps=0.1)
    assert targets.shape == (2, 16, 4)
    torch.testing.assert_close(targets[1, 5], torch.tensor([0.025, 0.025, 0.025, 0.925]))
    scored = [DataSample().set_gt_score(torch.tensor([0.25, 0.75, 0., 0.])) for _ in range(2)]
    targets = patch_mixing.patch_targets(scored, torch.zeros(2, 16, 4))
    torch.testing.assert_close(targets[0, 15], torch.tensor([0.25, 0.75, 0., 0.]))


@pytest.mark.parametrize('composition,scale,expected', [
    ('separate', 1., 1.), ('separate', 0.5, 1.),
    ('token_mean', 1., 0.5 / 17), ('token_mean', 0., 1.),
    ('token_mean', 0.5, 1. + 0.5 * (0.5 / 17 - 1.))])
def test_head_loss_factor(composition, scale, expected):
    loss = PatchMixingLoss(loss_weight=0.5, composition=composition)
    assert patch_mixing.head_loss_factor(loss, scale, 16) == pytest.approx(expected)
