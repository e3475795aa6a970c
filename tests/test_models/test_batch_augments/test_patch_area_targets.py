"""Per-patch CutMix targets: hand-computed fractions, pairing and targets."""

import numpy as np
import pytest
import torch
from mmpretrain.models.utils.batch_augments import CutMix

from mmdiverse.models.batch_augments.patch_area_targets import (
    box_lam,
    box_patch_fractions,
    pairing_index,
    patch_soft_targets,
    snap_box_to_grid,
)

# 32x32 image, 8x8 patches (4x4 grid); box rows 2:16, cols 8:18:
# rows cover patch row 0 by 6/8 and row 1 fully; cols cover patch col 1
# fully and col 2 by 2/8 (the edge x=18 cuts that patch at 25%).
BOX = (2, 16, 8, 18)
EXPECTED = torch.tensor(
    [
        [0.0, 0.75, 0.75 * 0.25, 0.0],
        [0.0, 1.0, 0.25, 0.0],
        [0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0],
    ]
).flatten()


def test_pixel_box_fractions_by_hand():
    frac = box_patch_fractions(BOX, (32, 32), 8)
    assert frac.shape == (1, 16) and frac.dtype == torch.float32
    torch.testing.assert_close(frac[0], EXPECTED, rtol=0, atol=0)
    # area check: sum of shares x patch area = box area 14 * 10
    assert frac.sum().item() * 64 == 140
    torch.testing.assert_close(frac.mean(), 1 - box_lam(BOX, 32)[0])


def test_patch_alignment_snaps_to_zero_one():
    snapped = snap_box_to_grid(BOX, 8)
    torch.testing.assert_close(snapped, torch.tensor([[0.0, 16.0, 8.0, 16.0]]))
    frac = box_patch_fractions(BOX, (32, 32), 8, box_alignment='patch')
    expected = torch.zeros(16)
    expected[[1, 5]] = 1.0  # rows 0-1, col 1
    torch.testing.assert_close(frac[0], expected, rtol=0, atol=0)
    # half a patch rounds up: 4 -> 8, 12 -> 16
    assert snap_box_to_grid((4, 12, 0, 3), 8).tolist() == [[8.0, 16.0, 0.0, 0.0]]


def test_non_square_grid_and_one_box_per_image_float64():
    # 16x24 image, (8, 12) patches: 2x2 grid
    boxes = torch.tensor([[0, 4, 6, 24], [8, 16, 0, 12]], dtype=torch.int64)
    frac = box_patch_fractions(boxes, (16, 24), (8, 12), dtype=torch.float64)
    assert frac.dtype == torch.float64 and frac.shape == (2, 4)
    # image 0: rows [.5, 0], cols [6/12, 1]; image 1: rows [0, 1], cols [1, 0]
    torch.testing.assert_close(
        frac, torch.tensor([[0.25, 0.5, 0, 0], [0, 0, 1.0, 0]], dtype=torch.float64), rtol=0, atol=0
    )
    torch.testing.assert_close(box_lam(boxes, (16, 24), dtype=torch.float64), 1 - frac.mean(1))


def test_matches_mmpretrain_cutmix_box_convention():
    cutmix = CutMix(alpha=1.0)
    np.random.seed(3)
    for lam in (0.3, 0.55, 0.9):
        (y1, y2, x1, x2), lam_c = cutmix.cutmix_bbox_and_lam((224, 224), lam)
        frac = box_patch_fractions((y1, y2, x1, x2), 224, 16)
        assert frac.min() >= 0 and frac.max() <= 1
        torch.testing.assert_close(
            frac.mean().double(), torch.tensor(1 - lam_c, dtype=torch.float64), rtol=1e-6, atol=0
        )
        assert box_lam((y1, y2, x1, x2), 224).item() == pytest.approx(lam_c)


@pytest.mark.parametrize('batch,expected', [(4, [3, 2, 1, 0]), (5, [4, 3, 2, 1, 0]), (1, [0])])
def test_mirror_pairing(batch, expected):
    assert pairing_index(batch, 'mirror').tolist() == expected


def test_permutation_pairing_uses_randperm():
    gen = torch.Generator().manual_seed(0)
    index = pairing_index(6, 'permutation', generator=gen)
    assert torch.equal(index, torch.randperm(6, generator=torch.Generator().manual_seed(0)))
    assert sorted(index.tolist()) == list(range(6))


def test_patch_soft_targets_by_hand():
    scores = torch.eye(3)  # images 0, 1, 2 of classes 0, 1, 2
    index = pairing_index(3, 'mirror')  # 0<->2, 1 with itself
    frac = box_patch_fractions(BOX, 32, 8)
    targets = patch_soft_targets(scores, index, frac)
    assert targets.shape == (3, 16, 3)
    # image 0, patch (0, 1): 1/4 of itself (class 0), 3/4 of image 2
    torch.testing.assert_close(targets[0, 1], torch.tensor([0.25, 0.0, 0.75]))
    # patch (0, 2): 3/16 of image 2; patch (1, 2) cut at 25%
    torch.testing.assert_close(targets[0, 2], torch.tensor([13 / 16, 0.0, 3 / 16]))
    torch.testing.assert_close(targets[2, 6], torch.tensor([0.25, 0.0, 0.75]))
    torch.testing.assert_close(targets[0, 15], torch.tensor([1.0, 0.0, 0.0]))
    assert (targets[1] == torch.tensor([0.0, 1.0, 0.0])).all()  # middle: unmixed
    # the mean over patches is the image-level mixed target
    lam = box_lam(BOX, 32)
    torch.testing.assert_close(targets.mean(1), lam * scores + (1 - lam) * scores[index])


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match='does not divide the image 30x32'):
        box_patch_fractions(BOX, (30, 32), 8)
    with pytest.raises(ValueError, match='box_alignment must be one of'):
        box_patch_fractions(BOX, 32, 8, box_alignment='token')
    with pytest.raises(ValueError, match=r'\(B, 4\) tensor, got shape \(3,\)'):
        box_patch_fractions((1, 2, 3), 32, 8)
    with pytest.raises(ValueError, match='pairing must be one of'):
        pairing_index(4, 'reverse')
    with pytest.raises(ValueError, match=r'fractions \(B, n\) or \(1, n\)'):
        patch_soft_targets(torch.eye(3), torch.arange(3), torch.zeros(2, 16))


def test_reads_nothing_back_on_the_host(count_host_reads):
    """Tensor boxes, pairing and targets stay on the device: no ``.item()``,
    ``bool(tensor)``, ``.tolist()``... (each a host sync on a GPU)."""
    boxes = torch.tensor([[2.0, 16.0, 8.0, 18.0], [0.0, 32.0, 4.0, 12.0]])
    with count_host_reads() as counts:
        for alignment in ('pixel', 'patch'):
            frac = box_patch_fractions(boxes, 32, 8, box_alignment=alignment)
            for pairing in ('mirror', 'permutation'):
                patch_soft_targets(torch.eye(2), pairing_index(2, pairing), frac)
        box_lam(boxes, 32)
        torch.zeros(2).sum().item()  # control: the hooks are live
    assert dict(counts) == {'item': 1}
