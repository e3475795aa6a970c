"""PatchCutMix: token-aligned boxes and per-patch targets."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import DefaultScope

import mmdiverse  # noqa: F401
from mmdiverse.models.batch_augments import PatchCutMix
from mmpretrain.models.utils import ClsDataPreprocessor
from mmpretrain.registry import BATCH_AUGMENTS
from mmpretrain.structures import DataSample


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    """Build with mmpretrain's registries whatever scope other tests set."""
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


def constant_colour_batch(labels, height, width):
    """Image of class c is the constant c + 1 in every pixel and channel."""
    labels = torch.as_tensor(labels)
    imgs = (labels.float() + 1).view(-1, 1, 1, 1).expand(-1, 3, height,
                                                         width).clone()
    return imgs, F.one_hot(labels, 7).float()


def patch_colours(imgs, patch):
    """Row-major per-patch pixel values ``(B, n)``; asserts each patch is
    constant (the box is aligned)."""
    b, _, h, w = imgs.shape
    tiles = imgs[:, 0].reshape(b, h // patch, patch, w // patch, patch)
    tiles = tiles.permute(0, 1, 3, 2, 4).reshape(b, -1, patch * patch)
    assert torch.all(tiles == tiles[..., :1]), 'box not aligned to patches'
    return tiles[..., 0]


@pytest.mark.parametrize('batch,hw,patch', [
    (5, (32, 48), 8), (4, (64, 64), 16), (3, (64, 32), 32), (1, (16, 16), 8)])
@pytest.mark.parametrize('seed', range(4))
def test_patch_targets_match_mixed_pixels(batch, hw, patch, seed):
    np.random.seed(seed)
    torch.manual_seed(seed)
    labels = torch.arange(batch) % 7
    imgs, scores = constant_colour_batch(labels, *hw)
    original = imgs.clone()
    aug = PatchCutMix(alpha=1.0, patch_size=patch)
    mixed, mixed_scores, patch_scores = aug.mix_with_patch_targets(
        imgs, scores)
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
            assert sorted(colours[:, pos].tolist()) == \
                (labels + 1).float().tolist()
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
    mixed, mixed_scores, patch_scores = aug.mix_with_patch_targets(
        imgs, scores)
    expected = F.one_hot(patch_colours(mixed, 8).long() - 1, 7).float()
    torch.testing.assert_close(patch_scores, expected)
    torch.testing.assert_close(mixed_scores, patch_scores.mean(1))


def test_stock_contract_inside_cls_data_preprocessor():
    """As a plain batch augment it returns (inputs, scores)."""
    aug = BATCH_AUGMENTS.build(dict(type='PatchCutMix', alpha=1.0,
                                    patch_size=8))
    out = aug(*constant_colour_batch([0, 1, 2], 16, 16))
    assert len(out) == 2 and out[1].shape == (3, 7)
    pre = ClsDataPreprocessor(
        num_classes=7,
        batch_augments=dict(augments=[dict(type='PatchCutMix', alpha=1.0,
                                           patch_size=8)]))
    data = pre(make_data([0, 1, 2]), training=True)
    assert data['data_samples'][0].gt_score.shape == (7, )


def make_data(labels, size=16):
    imgs, _ = constant_colour_batch(labels, size, size)
    return dict(inputs=imgs,
                data_samples=[DataSample().set_gt_label(int(c))
                              for c in labels])
