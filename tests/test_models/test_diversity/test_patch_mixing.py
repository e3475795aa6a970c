"""PatchMixingTerm (mmdiverse/models/diversity/patch_mixing.py): per-token
logits, label smoothing, per-patch targets, head CE weight."""

import pytest
import torch
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmdiverse  # noqa: F401
from mmdiverse.models.diversity import patch_mixing
from mmdiverse.models.losses import PatchMixingLoss


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


def term(head=None, smooth=None, **loss_kwargs):
    head = head or MODELS.build(dict(type='LinearClsHead', num_classes=4, in_channels=8))
    return patch_mixing.PatchMixingTerm(PatchMixingLoss(**loss_kwargs), head, label_smooth=smooth)


def vit_head(hidden_dim=None, smooth=0.1):
    loss = dict(type='LabelSmoothLoss', label_smooth_val=smooth, mode='original')
    return MODELS.build(
        dict(
            type='VisionTransformerClsHead',
            num_classes=5,
            in_channels=8,
            hidden_dim=hidden_dim,
            loss=loss,
        )
    )


@pytest.mark.parametrize('hidden_dim', [None, 6])
def test_vit_head_logits_of_every_token_equal_the_head_on_that_token(hidden_dim):
    torch.manual_seed(0)
    head = vit_head(hidden_dim)
    tokens = torch.randn(2, 3, 8)
    logits = term(head).logits(tokens)
    assert logits.shape == (2, 3, 5)
    for i in range(3):  # the head applied to token i as if it were the class token
        torch.testing.assert_close(logits[:, i], head([tokens[:, i]]))


def test_linear_head_logits_use_fc():
    torch.manual_seed(0)
    head = MODELS.build(dict(type='LinearClsHead', num_classes=5, in_channels=8))
    tokens = torch.randn(2, 3, 8)
    torch.testing.assert_close(term(head).logits(tokens), tokens @ head.fc.weight.T + head.fc.bias)


def test_heads_and_necks_that_cannot_mix_are_refused():
    head = MODELS.build(dict(type='LinearClsHead', num_classes=5, in_channels=8))
    patch_mixing.check_patch_mix_head(head, None)
    with pytest.raises(ValueError, match='final linear layer'):
        patch_mixing.check_patch_mix_head(None, None)
    with pytest.raises(ValueError, match='parameter-free neck'):
        patch_mixing.check_patch_mix_head(head, torch.nn.Linear(8, 8))


def test_label_smoothing_follows_the_head_unless_overridden():
    assert patch_mixing.label_smoothing(vit_head(smooth=0.2)) == pytest.approx(0.2)
    assert patch_mixing.label_smoothing(vit_head(smooth=0.2), override=0.0) == 0.0
    plain = MODELS.build(dict(type='LinearClsHead', num_classes=5, in_channels=8))
    assert patch_mixing.label_smoothing(plain) == 0.0


def test_targets_from_the_batch_tensor_are_smoothed():
    batch = torch.zeros(2, 3, 4)
    batch[..., 1] = 1.0
    targets = term(smooth=0.2).targets([], torch.zeros(2, 3, 4), batch)
    torch.testing.assert_close(targets[1, 2], torch.tensor([0.05, 0.85, 0.05, 0.05]))


def test_targets_of_a_wrong_grid_name_the_patch_size():
    with pytest.raises(ValueError, match=r'set PatchCutMix patch_size=8'):
        term().targets(
            [], torch.zeros(2, 16, 4), torch.zeros(2, 4, 4), last_hw=(4, 4), input_hw=(32, 32)
        )


def test_without_batch_targets_every_patch_takes_the_image_target():
    samples = [DataSample().set_gt_label(c) for c in (0, 3)]
    targets = term(smooth=0.1).targets(samples, torch.zeros(2, 16, 4))
    assert targets.shape == (2, 16, 4)
    torch.testing.assert_close(targets[1, 5], torch.tensor([0.025, 0.025, 0.025, 0.925]))
    scored = [DataSample().set_gt_score(torch.tensor([0.25, 0.75, 0.0, 0.0])) for _ in range(2)]
    targets = term().targets(scored, torch.zeros(2, 16, 4))
    torch.testing.assert_close(targets[0, 15], torch.tensor([0.25, 0.75, 0.0, 0.0]))


@pytest.mark.parametrize(
    'composition,scale,expected',
    [
        ('separate', 1.0, 1.0),
        ('separate', 0.5, 1.0),
        ('token_mean', 1.0, 0.5 / 17),
        ('token_mean', 0.0, 1.0),
        ('token_mean', 0.5, 1.0 + 0.5 * (0.5 / 17 - 1.0)),
    ],
)
def test_head_loss_factor(composition, scale, expected):
    mixing = term(loss_weight=0.5, composition=composition)
    assert mixing.head_loss_factor(scale, 16) == pytest.approx(expected)


def test_a_batch_whose_pixels_moved_without_patch_targets_names_the_augment():
    """No silent fallback to image targets after CutMix (issue 20.3)."""
    samples = [
        DataSample(metainfo=dict(batch_augment='PatchCutMix')).set_gt_label(c) for c in (0, 3)
    ]
    with pytest.raises(
        ValueError,
        match=r'diversity\.patch_mix: this batch was mixed by '
        r'PatchCutMix.*no per-patch targets',
    ):
        term().targets(samples, torch.zeros(2, 16, 4))
    # with its targets the same batch is fine
    assert term().targets(samples, torch.zeros(2, 16, 4), torch.zeros(2, 16, 4)).shape == (2, 16, 4)
