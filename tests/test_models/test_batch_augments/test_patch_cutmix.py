"""PatchCutMix: token-aligned boxes and per-patch targets."""

from unittest import mock

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import DefaultScope
from mmpretrain.models.utils import ClsDataPreprocessor
from mmpretrain.registry import BATCH_AUGMENTS

import mmdiverse  # noqa: F401
from mmdiverse.models.batch_augments import PatchCutMix
from tests.helpers.patch_images import constant_colour_batch, make_data, patch_colours


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    """Build with mmpretrain's registries whatever scope other tests set."""
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


@pytest.mark.parametrize(
    'batch,hw,patch', [(5, (32, 48), 8), (4, (64, 64), 16), (3, (64, 32), 32), (1, (16, 16), 8)]
)
@pytest.mark.parametrize('seed', range(4))
def test_patch_targets_match_mixed_pixels(batch, hw, patch, seed):
    np.random.seed(seed)
    torch.manual_seed(seed)
    labels = torch.arange(batch) % 7
    imgs, scores = constant_colour_batch(labels, *hw)
    original = imgs.clone()
    aug = PatchCutMix(alpha=1.0, patch_size=patch)
    mixed, mixed_scores, patch_scores = aug.mix_with_patch_targets(imgs, scores)
    torch.testing.assert_close(imgs, original)  # input not modified
    n = (hw[0] // patch) * (hw[1] // patch)
    assert patch_scores.shape == (batch, n, 7)
    colours = patch_colours(mixed, patch)  # (B, n)
    expected = F.one_hot(colours.long() - 1, 7).float()
    torch.testing.assert_close(patch_scores, expected)
    # the image-level score is the area share of each source
    torch.testing.assert_close(mixed_scores, patch_scores.mean(1))
    torch.testing.assert_close(mixed_scores.sum(-1), torch.ones(batch))


def test_mixing_pairs_by_permutation():
    """Inside the box, the batch's sources are a permutation of the batch."""
    np.random.seed(1)
    torch.manual_seed(1)
    labels = torch.arange(7)
    imgs, scores = constant_colour_batch(labels, 64, 64)
    aug = PatchCutMix(alpha=1.0, patch_size=16)
    mixed_batches = 0
    for _ in range(10):
        mixed, _, _ = aug.mix_with_patch_targets(imgs, scores)
        colours = patch_colours(mixed, 16)  # (B, n)
        changed = (colours != (labels + 1).view(-1, 1)).any(0)
        if changed.any():
            mixed_batches += 1
            pos = int(changed.nonzero()[0])
            assert sorted(colours[:, pos].tolist()) == (labels + 1).float().tolist()
    assert mixed_batches > 0


def test_patch_size_must_divide_input():
    aug = PatchCutMix(alpha=1.0, patch_size=16)
    imgs, scores = constant_colour_batch([0, 1], 30, 32)
    with pytest.raises(ValueError) as err:
        aug(imgs, scores)
    assert 'patch_size' in str(err.value) and '30x32' in str(err.value)


def test_minmax_box():
    np.random.seed(0)
    aug = PatchCutMix(alpha=1.0, patch_size=8, cutmix_minmax=[0.25, 0.75])
    imgs, scores = constant_colour_batch([0, 1, 2], 64, 64)
    mixed, mixed_scores, patch_scores = aug.mix_with_patch_targets(imgs, scores)
    expected = F.one_hot(patch_colours(mixed, 8).long() - 1, 7).float()
    torch.testing.assert_close(patch_scores, expected)
    torch.testing.assert_close(mixed_scores, patch_scores.mean(1))


def test_stock_contract_inside_cls_data_preprocessor():
    """As a plain batch augment it returns (inputs, scores)."""
    aug = BATCH_AUGMENTS.build(dict(type='PatchCutMix', alpha=1.0, patch_size=8))
    out = aug(*constant_colour_batch([0, 1, 2], 16, 16))
    assert len(out) == 2 and out[1].shape == (3, 7)
    pre = ClsDataPreprocessor(
        num_classes=7,
        batch_augments=dict(augments=[dict(type='PatchCutMix', alpha=1.0, patch_size=8)]),
    )
    data = pre(make_data([0, 1, 2]), training=True)
    assert data['data_samples'][0].gt_score.shape == (7,)


def pixel_shares(imgs, patch, classes=7):
    """``(B, n, K)`` share of each class's pixels in every patch (colour c + 1
    is class c): the exact per-patch target of any box."""
    b, _, h, w = imgs.shape
    tiles = imgs[:, 0].reshape(b, h // patch, patch, w // patch, patch)
    tiles = tiles.permute(0, 1, 3, 2, 4).reshape(b, -1, patch * patch)
    return F.one_hot(tiles.long() - 1, classes).float().mean(2)


@pytest.mark.parametrize('pairing', ['permutation', 'mirror'])
@pytest.mark.parametrize('seed', range(6))
def test_pixel_box_targets_are_the_area_share_of_each_source(seed, pairing):
    np.random.seed(seed)
    torch.manual_seed(seed)
    imgs, scores = constant_colour_batch(torch.arange(5), 32, 48)
    aug = PatchCutMix(alpha=1.0, patch_size=8, box_alignment='pixel', pairing=pairing)
    mixed, mixed_scores, patch_scores = aug.mix_with_patch_targets(imgs, scores)
    torch.testing.assert_close(patch_scores, pixel_shares(mixed, 8))
    torch.testing.assert_close(mixed_scores, patch_scores.mean(1))


def test_pixel_box_cuts_patches():
    """A box off the 8 px grid: boundary patches get fractional targets."""
    np.random.seed(0)
    imgs, scores = constant_colour_batch(torch.arange(4), 32, 32)
    aug = PatchCutMix(alpha=1.0, patch_size=8, box_alignment='pixel', pairing='mirror')
    with (
        mock.patch('numpy.random.beta', return_value=0.6),
        mock.patch('numpy.random.randint', side_effect=[13, 18]),
    ):  # centre (13, 18)
        mixed, _, patch_scores = aug.mix_with_patch_targets(imgs, scores)
    # cut 20 px (int(32 * sqrt(0.4))): rows 3:23, columns 8:28 of the partner
    changed = (mixed != imgs)[0, 0]
    assert changed[3:23, 8:28].all() and changed.sum() == 20 * 20
    # patch (0, 1): rows 0:8 x columns 8:16, of which rows 3:8 are the partner's
    partner = 3  # the mirror of image 0 in a batch of 4
    torch.testing.assert_close(patch_scores[0, 1, [0, partner]], torch.tensor([3 / 8, 5 / 8]))
    torch.testing.assert_close(patch_scores[0, 5, partner], torch.tensor(1.0))  # inside
    torch.testing.assert_close(patch_scores[0, 0, 0], torch.tensor(1.0))  # outside


@pytest.mark.parametrize('batch', [4, 5])
def test_mirror_pairs_image_i_with_b_minus_1_minus_i(batch):
    np.random.seed(2)
    labels = torch.arange(batch)
    imgs, scores = constant_colour_batch(labels, 32, 32)
    aug = PatchCutMix(alpha=1.0, patch_size=8, pairing='mirror')
    with mock.patch('numpy.random.beta', return_value=0.5):
        mixed, mixed_scores, patch_scores = aug.mix_with_patch_targets(imgs, scores)
    colours = patch_colours(mixed, 8)
    inside = (colours != (labels + 1).view(-1, 1).float()).any(0) | (
        colours != colours.flip(0)
    ).any(0)
    box = (patch_scores[0] != scores[0]).any(-1)  # the patches inside the box
    assert box.any()
    torch.testing.assert_close(
        colours[:, box], (labels.flip(0) + 1).float().view(-1, 1).expand(-1, int(box.sum()))
    )
    if batch % 2:  # the middle image is paired with itself: unmixed
        middle = batch // 2
        torch.testing.assert_close(mixed[middle], imgs[middle])
        torch.testing.assert_close(mixed_scores[middle], scores[middle])
    assert inside.any()


def test_defaults_and_bad_options():
    aug = BATCH_AUGMENTS.build(dict(type='PatchCutMix', alpha=1.0))
    assert (aug.box_alignment, aug.pairing) == ('patch', 'permutation')
    assert "box_alignment='patch'" in repr(aug)
    with pytest.raises(ValueError, match=r"box_alignment='pixels'"):
        PatchCutMix(alpha=1.0, box_alignment='pixels')
    with pytest.raises(ValueError, match=r"pairing='flip'"):
        PatchCutMix(alpha=1.0, pairing='flip')
