"""mmdiverse.checkpoint.convert.common: key rules, the patch-merging channel
order and the relative-position index."""

import pytest
import torch

from mmdiverse.checkpoint.convert.common import (
    Rule,
    merge_order_to_unfold,
    relative_position_index,
    unfold_order_to_merge,
)


def test_rule_templates_shift_indices_both_ways():
    rule = Rule('layers.{s+1}.downsample.{p}', 'backbone.stages.{s}.downsample.{p}')
    src, dst, _ = rule.sides(reverse=False)
    values = src.match('layers.3.downsample.norm.weight', {})
    assert values == {'s': 2, 'p': 'norm.weight'}
    assert dst.format(values, {}) == 'backbone.stages.2.downsample.norm.weight'
    src, dst, _ = rule.sides(reverse=True)
    values = src.match('backbone.stages.0.downsample.reduction.weight', {})
    assert dst.format(values, {}) == 'layers.1.downsample.reduction.weight'
    # index 0 has no preceding stage, and constants must equal the context
    assert rule.src.match('layers.0.downsample.norm.weight', {}) is None
    final = Rule('norm.{p}', 'backbone.norm{last}.{p}')
    assert final.dst.match('backbone.norm3.weight', {'last': 3}) == {'last': 3, 'p': 'weight'}
    assert final.dst.match('backbone.norm0.weight', {'last': 3}) is None


def test_patch_merging_reorder_matches_mmcv_unfold():
    """Reordered weights make mmcv's PatchMerging compute what timm's does."""
    from mmcv.cnn.bricks.transformer import PatchMerging
    from timm.models.swin_transformer import PatchMerging as TimmPatchMerging

    torch.manual_seed(0)
    timm_merge = TimmPatchMerging(dim=8, out_dim=16).eval()
    mmcv_merge = PatchMerging(8, 16, bias=False).eval()
    mmcv_merge.reduction.weight.data = merge_order_to_unfold(timm_merge.reduction.weight.data)
    mmcv_merge.norm.weight.data = merge_order_to_unfold(timm_merge.norm.weight.data)
    mmcv_merge.norm.bias.data = merge_order_to_unfold(timm_merge.norm.bias.data)
    x = torch.randn(2, 6, 4, 8)  # B, H, W, C
    expected = timm_merge(x)
    out, hw = mmcv_merge(x.flatten(1, 2), (6, 4))
    assert hw == (3, 2)
    torch.testing.assert_close(out.view(2, 3, 2, 16), expected, rtol=1e-5, atol=1e-5)
    w = torch.randn(5, 32)
    assert torch.equal(unfold_order_to_merge(merge_order_to_unfold(w)), w)


@pytest.mark.parametrize('window', [4, 7, 12])
def test_relative_position_index_equals_mmpretrain_buffer(window):
    from mmpretrain.models.utils.attention import WindowMSA

    attn = WindowMSA(embed_dims=8, window_size=(window, window), num_heads=2)
    expected = attn.relative_position_index
    got = relative_position_index(window)
    assert got.dtype == expected.dtype and torch.equal(got, expected)
