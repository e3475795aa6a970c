"""PatchClsDataPreprocessor: per-patch targets reach the model as one
``(B, n, K)`` tensor of the preprocessor's output, nothing else changes."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import DefaultScope
from mmpretrain.models.utils import ClsDataPreprocessor
from mmpretrain.registry import MODELS

import mmdiverse  # noqa: F401
from mmdiverse.models.batch_augments import (
    PATCH_TARGETS_KEY,
    PatchClsDataPreprocessor,
    PatchRandomBatchAugment,
)
from tests.helpers.patch_images import make_data, patch_colours


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


def build_pre(augments, probs=None):
    return MODELS.build(
        dict(
            type='PatchClsDataPreprocessor',
            num_classes=7,
            batch_augments=dict(augments=augments, probs=probs),
        )
    )


def test_preprocessor_outputs_the_batch_of_patch_targets():
    np.random.seed(0)
    pre = build_pre([dict(type='PatchCutMix', alpha=1.0, patch_size=8)])
    assert isinstance(pre, PatchClsDataPreprocessor)
    assert isinstance(pre.batch_augments, PatchRandomBatchAugment)
    data = pre(make_data([0, 1, 2, 3, 4]), training=True)
    targets = data[PATCH_TARGETS_KEY]
    assert targets.shape == (5, 4, 7)
    colours = patch_colours(data['inputs'], 8)
    torch.testing.assert_close(targets, F.one_hot(colours.long() - 1, 7).float())
    for sample, target in zip(data['data_samples'], targets):
        torch.testing.assert_close(sample.gt_score, target.mean(0))
        assert 'gt_patch_score' not in sample
    assert not hasattr(pre.batch_augments, 'patch_scores')  # nothing parked between calls
    # validation: no batch augment, no patch targets
    data = pre(make_data([0, 1]), training=False)
    assert set(data) == {'inputs', 'data_samples'}


def test_same_output_as_the_stock_preprocessor_apart_from_the_targets():
    cfg = dict(
        num_classes=7,
        mean=[1.0, 2.0, 3.0],
        std=[2.0, 2.0, 2.0],
        batch_augments=dict(augments=[dict(type='Mixup', alpha=0.8)]),
    )
    stock, ours = ClsDataPreprocessor(**cfg), PatchClsDataPreprocessor(**cfg)
    for training in (True, False):
        np.random.seed(1)
        torch.manual_seed(1)
        a = stock(make_data([0, 1, 2]), training=training)
        np.random.seed(1)
        torch.manual_seed(1)
        b = ours(make_data([0, 1, 2]), training=training)
        assert set(a) == set(b)
        torch.testing.assert_close(a['inputs'], b['inputs'])
        for x, y in zip(a['data_samples'], b['data_samples']):
            torch.testing.assert_close(x.gt_score, y.gt_score)
            torch.testing.assert_close(x.gt_label, y.gt_label)


def test_mixup_and_no_augment_batches_have_no_patch_targets():
    pre = build_pre([dict(type='Mixup', alpha=0.8)])
    assert PATCH_TARGETS_KEY not in pre(make_data([0, 1, 2]), training=True)
    # probability mass left to "no augment"
    pre = build_pre([dict(type='PatchCutMix', alpha=1.0, patch_size=8)], probs=[0.0])
    data = pre(make_data([0, 1, 2]), training=True)
    assert PATCH_TARGETS_KEY not in data
    torch.testing.assert_close(
        data['data_samples'][1].gt_score, F.one_hot(torch.tensor(1), 7).float()
    )


def test_wrapper_keeps_the_stock_two_output_contract():
    np.random.seed(0)
    pre = build_pre([dict(type='PatchCutMix', alpha=1.0, patch_size=8)])
    data = make_data([0, 1, 2])
    out = pre.batch_augments(data['inputs'], F.one_hot(torch.arange(3), 7))
    assert len(out) == 2 and out[1].shape == (3, 7)


@pytest.mark.parametrize('options', [dict(), dict(box_alignment='pixel', pairing='mirror')])
def test_routing_and_patch_cutmix_read_nothing_back_on_the_host(options, count_host_reads):
    """No ``.item()`` / ``.tolist()`` / ``.cpu()`` / ``if tensor`` on the
    training path of PatchCutMix and the target routing (issue 15)."""
    np.random.seed(0)
    pre = build_pre([dict(type='PatchCutMix', alpha=1.0, patch_size=8, **options)])
    data = make_data([0, 1, 2, 3, 4], size=32)
    with count_host_reads() as counts:
        out = pre(data, training=True)
    assert not counts, dict(counts)
    assert out[PATCH_TARGETS_KEY].shape == (5, 16, 7)


def test_the_augment_that_moved_pixels_is_named_in_the_samples():
    np.random.seed(0)
    pre = build_pre([dict(type='CutMix', alpha=1.0)])
    data = pre(make_data([0, 1, 2]), training=True)
    assert PATCH_TARGETS_KEY not in data
    assert all(s.batch_augment == 'CutMix' for s in data['data_samples'])
    pre = build_pre([dict(type='Mixup', alpha=0.8)])
    data = pre(make_data([0, 1, 2]), training=True)
    assert 'batch_augment' not in data['data_samples'][0]  # every patch's target is exact
    assert pre.batch_augments.take_record() is None  # taken by the forward, once


def test_probs_are_kept_as_configured():
    pre = build_pre([dict(type='PatchCutMix', alpha=1.0, patch_size=8)], probs=[0.5])
    assert pre.batch_augments.probs == [0.5, 0.5]
    assert [i for i, _ in pre.batch_augments.indexed()] == [0]
