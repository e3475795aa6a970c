"""PairedMixup: mmpretrain's Mixup by default, Diverse-ViT's mirror pairs."""

from unittest import mock

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.models.utils.batch_augments import Mixup
from mmpretrain.registry import BATCH_AUGMENTS

import mmdiverse  # noqa: F401
from mmdiverse.models.batch_augments import PairedMixup


def batch(size):
    gen = torch.Generator().manual_seed(size)
    return torch.rand(size, 3, 8, 8, generator=gen), F.one_hot(torch.arange(size) % 4, 4).float()


def test_permutation_is_mmpretrain_mixup():
    inputs, scores = batch(6)
    np.random.seed(0)
    torch.manual_seed(0)
    expected = Mixup(alpha=0.8)(inputs, scores)
    np.random.seed(0)
    torch.manual_seed(0)
    got = BATCH_AUGMENTS.build(dict(type='PairedMixup', alpha=0.8))(inputs, scores)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize('size', [4, 5, 1])
def test_mirror_mixes_each_image_with_its_mirror(size):
    inputs, scores = batch(size)
    with mock.patch('numpy.random.beta', return_value=0.7):
        mixed, mixed_scores = PairedMixup(alpha=0.8, pairing='mirror')(inputs, scores)
    torch.testing.assert_close(mixed, 0.7 * inputs + 0.3 * inputs.flip(0))
    torch.testing.assert_close(mixed_scores, 0.7 * scores + 0.3 * scores.flip(0))
    if size % 2:  # the middle image is mixed with itself
        torch.testing.assert_close(mixed[size // 2], inputs[size // 2])


def test_bad_pairing_is_refused():
    with pytest.raises(ValueError, match=r"PairedMixup: pairing='flip'"):
        PairedMixup(alpha=0.8, pairing='flip')
