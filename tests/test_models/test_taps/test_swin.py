"""SwinTap: mmpretrain SwinTransformer."""

import pytest
import torch

from mmdiverse.models.taps import SwinTap, build_tap
from tests.helpers.tiny_backbones import images, tiny_swin


def test_swin_last_stage_tokens_and_default_first():
    backbone = tiny_swin()
    tap = build_tap(backbone, attn_layers=(0, 3))
    assert isinstance(tap, SwinTap)
    assert tap.layer_names == [
        'stages.0.blocks.0',
        'stages.0.blocks.1',
        'stages.1.blocks.0',
        'stages.1.blocks.1',
    ]
    assert tap.first_layer == 2  # first block of the last stage
    with tap.capture(per_layer=True) as out:
        feat = backbone(images())[-1]  # (B, 32, 4, 4), after norm1
    assert out.last_hw == (4, 4) and out.first_hw == (4, 4)
    torch.testing.assert_close(out.last, feat.flatten(2).transpose(1, 2))
    assert out.first.shape == (2, 16, 32)
    # window attention: (B * nW, H, w*w, w*w); stage 0 has 8x8 / 2x2 windows
    assert out.attn[0].shape == (2 * 16, 2, 4, 4)
    assert out.attn[3].shape == (2 * 4, 2, 4, 4)
    assert out.per_layer[0].shape == (2, 64, 16)
    assert out.per_layer_hw[0] == (8, 8)
    assert [w.shape for w in tap.qkv_weights()] == [(3, 16, 16)] * 2 + [(3, 32, 32)] * 2


def test_swin_pre_norm_is_the_last_stage_output_before_its_norm():
    backbone = tiny_swin()
    tap = build_tap(backbone, similarity_tokens='pre_norm')
    with tap.capture(per_layer=True) as out:
        backbone(images())
    pre = out.last_pre_norm
    assert pre.shape == (2, 16, 32) and out.last_hw == (4, 4)
    torch.testing.assert_close(pre, out.per_layer[3])  # the last block
    torch.testing.assert_close(backbone.norm1(pre), out.last)
    assert tap.similarity_last(out) is pre


def test_swin_first_layer_width_mismatch_is_a_build_error():
    tap = build_tap(tiny_swin(), first_layer=0, cfg_key='diversity.tap')
    with pytest.raises(ValueError) as err:
        tap.validate(first=True, keys=dict(first='diversity.patch_contrast'))
    msg = str(err.value)
    assert 'diversity.patch_contrast' in msg and 'stages.0.blocks.0' in msg
    assert 'stages.1.blocks.0' in msg  # the valid choices


def test_swin_attention_capture_leaves_output_unchanged():
    backbone = tiny_swin()
    x = images()
    with torch.no_grad():
        stock = backbone(x)[-1]
        with build_tap(backbone, attn_layers=(1,)).capture() as out:
            captured = backbone(x)[-1]
    torch.testing.assert_close(captured, stock)
    torch.testing.assert_close(out.attn[1].sum(-1), torch.ones(out.attn[1].shape[:-1]))


def test_swin_missing_layer_lists_names():
    with pytest.raises(ValueError, match='stages.1.blocks.1'):
        build_tap(tiny_swin(), attn_layers=('stages.2.blocks.0',))


def test_swin_checkpointed_block_is_rejected_for_attention():
    backbone = tiny_swin(with_cp=True)
    with pytest.raises(ValueError, match='with_cp=True'):
        build_tap(backbone, attn_layers=(0,))


def test_swin_token_stride_multiplies_patch_and_merging_strides():
    tap = build_tap(tiny_swin())
    assert tap.token_stride() == (8, 8) and tap.input_size() == (32, 32)
