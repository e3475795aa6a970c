"""TimmViTTap: ViT-like timm models."""

import pytest
import torch

from mmdiverse.models.taps import TimmTap, TimmViTTap, build_tap
from tests.helpers.tiny_backbones import images, tiny_timm_vit


def test_timm_vit_tokens_attention_and_weights():
    backbone = tiny_timm_vit()
    x = images()
    with torch.no_grad():
        stock = backbone(x)[-1]
    tap = build_tap(backbone, attn_layers=(1,))
    assert isinstance(tap, TimmTap) and tap.is_token_model
    assert isinstance(tap, TimmViTTap)
    assert tap.layer_names == ['blocks.0', 'blocks.1']
    with torch.no_grad(), tap.capture(per_layer=True) as out:
        captured = backbone(x)[-1]
        assert backbone.timm_model.blocks[1].attn.fused_attn is False
    torch.testing.assert_close(captured, stock, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.last, stock[:, 1:])  # after norm
    assert out.last_hw == (4, 4) and out.first.shape == (2, 16, 32)
    assert out.attn[1].shape == (2, 2, 17, 17)
    assert len(out.per_layer) == 2 and [w.shape for w in tap.qkv_weights()] == [(3, 32, 32)] * 2
    assert (
        backbone.timm_model.blocks[1].attn.fused_attn
        == backbone.timm_model.blocks[0].attn.fused_attn
    )
    with pytest.raises(ValueError, match='blocks.0, blocks.1'):
        build_tap(backbone, first_layer='blocks.5')


def test_timm_vit_first_is_the_input_of_block_zero():
    backbone = tiny_timm_vit()
    model, x = backbone.timm_model, images()
    with build_tap(backbone).capture() as out:
        backbone(x)
    expected = model.norm_pre(model.patch_drop(model._pos_embed(model.patch_embed(x))))
    torch.testing.assert_close(out.first, expected[:, 1:])


def test_timm_vit_input_size_and_no_submodule_layers():
    tap = build_tap(tiny_timm_vit())
    assert tap.input_size() == (32, 32)
    assert 'submodule' not in tap.valid_layers_message()
    with pytest.raises(ValueError, match='is not a layer'):
        build_tap(tiny_timm_vit(), first_layer='blocks.0.attn')
