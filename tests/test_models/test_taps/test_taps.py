"""Token taps on tiny ViT / DeiT / Swin / CNN / timm backbones."""
import functools

import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import DefaultScope

import mmdiverse  # noqa: F401  (registers everything)
from mmdiverse.models.taps import (CNNTap, SwinTap, TimmTap, ViTTap,
                                   build_tap, explicit_attention)
from mmpretrain.models.utils.attention import (
    MultiheadAttention, scaled_dot_product_attention_pyimpl)
from mmpretrain.registry import MODELS


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    """Build with mmpretrain's registries whatever scope other tests set."""
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


VIT_ARCH = dict(embed_dims=32, num_layers=2, num_heads=2,
                feedforward_channels=64)


def evaluated(module):
    """``module.eval()``; some mmpretrain backbones' ``train`` returns None."""
    module.eval()
    return module


def tiny_vit(num_layers=2, **kwargs):
    cfg = dict(type='VisionTransformer',
               arch=dict(VIT_ARCH, num_layers=num_layers), img_size=32,
               patch_size=8, drop_path_rate=0.)
    cfg.update(kwargs)
    return evaluated(MODELS.build(cfg))


def tiny_swin(**kwargs):
    cfg = dict(type='SwinTransformer',
               arch=dict(embed_dims=16, depths=[2, 2], num_heads=[2, 2]),
               img_size=32, window_size=2, out_indices=(1, ),
               drop_path_rate=0.)
    cfg.update(kwargs)
    return evaluated(MODELS.build(cfg))


def tiny_resnet():
    return evaluated(MODELS.build(dict(type='ResNet', depth=18,
                                       stem_channels=8, base_channels=8)))


def tiny_timm_vit():
    pytest.importorskip('timm')
    return evaluated(MODELS.build(dict(
        type='TIMMBackbone', model_name='vit_tiny_patch16_224',
        img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2)))


def images(batch=2, size=32, seed=0):
    return torch.randn(batch, 3, size, size,
                       generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------ ViT
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


def test_vit_cls_token_output_still_taps_patch_tokens():
    backbone = tiny_vit()  # out_type='cls_token'
    tap = build_tap(backbone, first_layer='layers.1')
    with tap.capture() as out:
        cls = backbone(images())[-1]
    assert cls.shape == (2, 32)
    assert out.last.shape == (2, 16, 32) and out.first.shape == (2, 16, 32)


def test_deit_drops_class_and_distillation_tokens():
    backbone = evaluated(MODELS.build(dict(
        type='DistilledVisionTransformer', arch=VIT_ARCH, img_size=32,
        patch_size=8, out_type='raw')))
    tap = build_tap(backbone, attn_layers=(0, ))
    with tap.capture() as out:
        raw = backbone(images())[-1]
    torch.testing.assert_close(out.last, raw[:, 2:])
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
    assert len(tap.qkv_weights()) == 72


def test_vit_attention_capture_matches_fused_and_only_touches_chosen():
    torch.manual_seed(0)
    backbone = tiny_vit(out_type='raw')
    x = images()
    with torch.no_grad():
        stock = backbone(x)[-1]
    tap = build_tap(backbone, attn_layers=(0, ))
    fused = F.scaled_dot_product_attention
    with tap.capture() as out:
        assert backbone.layers[0].attn.scaled_dot_product_attention \
            is not fused
        assert backbone.layers[1].attn.scaled_dot_product_attention is fused
        with torch.no_grad():
            captured = backbone(x)[-1]
    torch.testing.assert_close(captured, stock, rtol=1e-5, atol=1e-5)
    probs = out.attn[0]
    assert probs.shape == (2, 2, 17, 17)
    torch.testing.assert_close(probs.sum(-1), torch.ones(2, 2, 17))
    # restored after the context; no hooks left behind
    assert backbone.layers[0].attn.scaled_dot_product_attention is fused
    assert all(not m._forward_hooks and not m._forward_pre_hooks
               for m in backbone.modules())


def test_explicit_attention_reproduces_qk_scale_fallback():
    """With qk_scale set, mmpretrain uses its Python fallback (a partial
    dividing by ``scale``): the explicit path must give the same numbers."""
    torch.manual_seed(0)
    attn = MultiheadAttention(embed_dims=16, num_heads=2, qk_scale=0.5)
    original = attn.scaled_dot_product_attention
    assert isinstance(original, functools.partial)
    assert original.func is scaled_dot_product_attention_pyimpl
    x = torch.randn(2, 5, 16)
    stock = attn(x)
    stored = []
    attn.scaled_dot_product_attention = explicit_attention(
        original, stored.append)
    torch.testing.assert_close(attn(x), stock)
    assert stored[0].shape == (2, 2, 5, 5)


def test_attention_gradient_flows_from_probabilities():
    backbone = tiny_vit()
    backbone.train()
    tap = build_tap(backbone, attn_layers=(1, ))
    with tap.capture(first=False) as out:
        backbone(images())
    out.attn[1].pow(2).sum().backward()
    grad = backbone.layers[1].attn.qkv.weight.grad
    assert grad is not None and grad.abs().sum() > 0


@pytest.mark.parametrize('kwargs,bad', [
    (dict(first_layer=2), '2'),
    (dict(first_layer='layers.7'), 'layers.7'),
    (dict(attn_layers=('blocks.0', )), 'blocks.0'),
    (dict(attn_layers=(-3, )), '-3'),
])
def test_missing_layer_fails_at_build_with_valid_names(kwargs, bad):
    with pytest.raises(ValueError) as err:
        build_tap(tiny_vit(), cfg_key='diversity.tap', **kwargs)
    msg = str(err.value)
    assert bad in msg and 'layers.0, layers.1' in msg
    assert 'diversity.tap.' in msg


def test_vit_qkv_weights_are_live_views():
    backbone = tiny_vit()
    weights = build_tap(backbone).qkv_weights()
    assert len(weights) == 6 and all(w.shape == (32, 32) for w in weights)
    sum(w.sum() for w in weights).backward()
    assert torch.all(backbone.layers[0].attn.qkv.weight.grad == 1)


def test_tap_type_from_registry_and_inference():
    backbone = tiny_vit()
    assert isinstance(build_tap(backbone, dict(type='ViTTap')), ViTTap)
    with pytest.raises(ValueError, match='unknown tap type'):
        build_tap(backbone, dict(type='NoSuchTap'))


# ----------------------------------------------------------------- Swin
def test_swin_last_stage_tokens_and_default_first():
    backbone = tiny_swin()
    tap = build_tap(backbone, attn_layers=(0, 3))
    assert isinstance(tap, SwinTap)
    assert tap.layer_names == ['stages.0.blocks.0', 'stages.0.blocks.1',
                               'stages.1.blocks.0', 'stages.1.blocks.1']
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
    assert len(tap.qkv_weights()) == 12


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
        with build_tap(backbone, attn_layers=(1, )).capture() as out:
            captured = backbone(x)[-1]
    torch.testing.assert_close(captured, stock)
    torch.testing.assert_close(out.attn[1].sum(-1),
                               torch.ones(out.attn[1].shape[:-1]))


def test_swin_missing_layer_lists_names():
    with pytest.raises(ValueError, match='stages.1.blocks.1'):
        build_tap(tiny_swin(), attn_layers=('stages.2.blocks.0', ))


# ------------------------------------------------------------------ CNN
def test_cnn_tap_final_map_positions_are_patches():
    backbone = tiny_resnet()
    tap = build_tap(backbone)
    assert isinstance(tap, CNNTap)
    assert tap.layer_names[0] == 'layer1.0'
    assert tap.layer_name(tap.first_layer) == 'layer4.1'
    x = images(size=64)
    with tap.capture(per_layer=True) as out:
        feat = backbone(x)[-1]  # (2, 64, 2, 2)
    torch.testing.assert_close(out.last, feat.flatten(2).transpose(1, 2))
    assert out.last_hw == (2, 2) and out.first.shape == (2, 4, 64)
    assert len(out.per_layer) == 8
    # any submodule name is accepted as first layer
    assert build_tap(backbone, first_layer='layer4.1.conv1').first_layer \
        == 'layer4.1.conv1'


def test_cnn_rejects_attention_and_weights():
    backbone = tiny_resnet()
    with pytest.raises(ValueError, match='diversity.attn_div'):
        build_tap(backbone).validate(attn=True,
                                     keys=dict(attn='diversity.attn_div'))
    with pytest.raises(ValueError, match='diversity.weight_cond'):
        build_tap(backbone).validate(
            weights=True, keys=dict(weights='diversity.weight_cond'))
    with pytest.raises(ValueError, match='attn_layers'):
        build_tap(backbone, attn_layers=(0, ))
    with pytest.raises(ValueError, match='q, k, v'):
        build_tap(backbone).qkv_weights()
    with pytest.raises(ValueError, match='layer4.1'):
        build_tap(backbone, first_layer='layer5.0')


def test_efficientnet_blocks():
    backbone = evaluated(MODELS.build(dict(type='EfficientNet', arch='b0')))
    tap = build_tap(backbone)
    last = f'layers.{len(backbone.layers) - 1}'  # the final 1x1 conv
    assert tap.layer_names[0] == 'layers.0' and tap.layer_names[-1] == last
    assert 'layers.1.0' in tap.layer_names and 'layers.4.5' in tap.layer_names
    with tap.capture() as out:
        backbone(images(size=64))
    assert out.last.shape == (2, 4, 1280)
    assert out.first.shape[-1] == 320  # the final 1x1 conv widens


# ----------------------------------------------------------------- timm
def test_timm_vit_tokens_attention_and_weights():
    backbone = tiny_timm_vit()
    x = images()
    with torch.no_grad():
        stock = backbone(x)[-1]
    tap = build_tap(backbone, attn_layers=(1, ))
    assert isinstance(tap, TimmTap) and tap.is_token_model
    assert tap.layer_names == ['blocks.0', 'blocks.1']
    with torch.no_grad(), tap.capture(per_layer=True) as out:
        captured = backbone(x)[-1]
        assert backbone.timm_model.blocks[1].attn.fused_attn is False
    torch.testing.assert_close(captured, stock, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.last, stock[:, 1:])  # after norm
    assert out.last_hw == (4, 4) and out.first.shape == (2, 16, 32)
    assert out.attn[1].shape == (2, 2, 17, 17)
    assert len(out.per_layer) == 2 and len(tap.qkv_weights()) == 6
    assert backbone.timm_model.blocks[1].attn.fused_attn == \
        backbone.timm_model.blocks[0].attn.fused_attn
    with pytest.raises(ValueError, match='blocks.0, blocks.1'):
        build_tap(backbone, first_layer='blocks.5')


def test_timm_cnn_uses_feature_map():
    pytest.importorskip('timm')
    backbone = evaluated(MODELS.build(dict(type='TIMMBackbone',
                                           model_name='resnet18')))
    tap = build_tap(backbone)
    assert isinstance(tap, TimmTap) and not tap.is_token_model
    assert tap.layer_name(tap.first_layer) == 'layer4.1'
    with tap.capture() as out:
        backbone(images(size=64))
    assert out.last.shape == (2, 4, 512) and out.first.shape == (2, 4, 512)
    with pytest.raises(ValueError, match='no attention'):
        tap.validate(attn=True)
