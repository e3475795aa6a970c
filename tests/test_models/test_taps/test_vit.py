"""ViTTap: mmpretrain VisionTransformer and DeiT."""

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmdiverse.models.taps import ViTTap, build_tap
from tests.helpers.tiny_backbones import images, no_hooks_left, tiny_deit, tiny_vit


def test_vit_tokens_match_backbone_output():
    backbone = tiny_vit(out_type='raw')
    x = images()
    tap = build_tap(backbone)
    assert isinstance(tap, ViTTap)
    with tap.capture() as out:
        raw = backbone(x)[-1]
    assert out.last.shape == (2, 16, 32)
    assert out.last_hw == (4, 4) and out.first_hw == (4, 4)
    torch.testing.assert_close(out.last, raw[:, 1:])  # cls token dropped
    # first = patch embedding + position embedding entering block 0
    emb, _ = backbone.patch_embed(x)
    torch.testing.assert_close(out.first, emb + backbone.pos_embed[:, 1:])


def test_deit_first_is_pos_drop_of_patch_embed_plus_pos_embed():
    """Diverse-ViT's contrastive "first" (docs/fidelity.md): the patch part
    of ``pos_drop(patch_embed(x) + pos_embed)``; DeiT has no ``pre_norm``.
    Checked in training mode with position dropout on, against the
    backbone's own modules drawing the same dropout mask."""
    backbone = tiny_deit(drop_rate=0.5)
    backbone.train()
    assert isinstance(backbone.pre_norm, nn.Identity)
    x = images()
    tap = build_tap(backbone)
    assert tap.first_layer == 0
    torch.manual_seed(7)
    with tap.capture(last=False) as out:
        backbone(x)
    patches, _ = backbone.patch_embed(x)
    tokens = torch.cat(
        [backbone.cls_token.expand(2, -1, -1), backbone.dist_token.expand(2, -1, -1), patches], 1
    )
    torch.manual_seed(7)
    expected = backbone.drop_after_pos(tokens + backbone.pos_embed)[:, 2:]
    torch.testing.assert_close(out.first, expected)
    assert (out.first == 0).any()  # the dropout did act
    assert out.first.shape == (2, 16, 32) and out.first_hw == (4, 4)


def test_vit_first_includes_the_optional_pre_norm():
    backbone = tiny_vit(pre_norm=True)
    x = images()
    with build_tap(backbone).capture() as out:
        backbone(x)
    full = (
        torch.cat([backbone.cls_token.expand(2, -1, -1), backbone.patch_embed(x)[0]], 1)
        + backbone.pos_embed
    )
    torch.testing.assert_close(out.first, backbone.pre_norm(full)[:, 1:])


def test_vit_cls_token_output_still_taps_patch_tokens():
    backbone = tiny_vit()  # out_type='cls_token'
    tap = build_tap(backbone, first_layer='layers.1')
    with tap.capture() as out:
        cls = backbone(images())[-1]
    assert cls.shape == (2, 32)
    assert out.last.shape == (2, 16, 32) and out.first.shape == (2, 16, 32)


def test_deit_drops_class_and_distillation_tokens():
    backbone = tiny_deit()
    tap = build_tap(backbone, attn_layers=(0,))
    with tap.capture(pre_norm=True) as out:
        raw = backbone(images())[-1]
    torch.testing.assert_close(out.last, raw[:, 2:])
    torch.testing.assert_close(backbone.ln1(out.last_pre_norm), out.last)
    assert out.attn[0].shape == (2, 2, 18, 18)  # N = 16 patches + 2 tokens


def test_vit_24_layers_per_layer_and_negative_indices():
    backbone = tiny_vit(num_layers=24)
    tap = build_tap(backbone, first_layer=-1, attn_layers=(-1, 'layers.12'))
    assert tap.first_layer == 23 and tap.attn_layers == (12, 23)
    with tap.capture(per_layer=True) as out:
        backbone(images())
    assert sorted(out.per_layer) == list(range(24))
    assert all(t.shape == (2, 16, 32) for t in out.per_layer.values())
    assert set(out.attn) == {12, 23}
    assert [w.shape for w in tap.qkv_weights()] == [(3, 32, 32)] * 24


def test_vit_attention_capture_matches_fused_and_only_touches_chosen():
    torch.manual_seed(0)
    backbone = tiny_vit(out_type='raw')
    x = images()
    with torch.no_grad():
        stock = backbone(x)[-1]
    tap = build_tap(backbone, attn_layers=(0,))
    fused = F.scaled_dot_product_attention
    with tap.capture() as out:
        assert backbone.layers[0].attn.scaled_dot_product_attention is not fused
        assert backbone.layers[1].attn.scaled_dot_product_attention is fused
        with torch.no_grad():
            captured = backbone(x)[-1]
    torch.testing.assert_close(captured, stock, rtol=1e-5, atol=1e-5)
    probs = out.attn[0]
    assert probs.shape == (2, 2, 17, 17)
    torch.testing.assert_close(probs.sum(-1), torch.ones(2, 2, 17))
    # restored after the context; no hooks left behind
    assert backbone.layers[0].attn.scaled_dot_product_attention is fused
    assert no_hooks_left(backbone)


def test_vit_geometry():
    tap = build_tap(tiny_vit())
    assert tap.token_stride() == (8, 8) and tap.input_size() == (32, 32)
