"""CNNTap: feature-map positions are the patches."""

import pytest
import torch
from mmpretrain.registry import MODELS

from mmdiverse.models.taps import CNNTap, build_tap, enumerate_blocks, feature_map_to_tokens
from tests.helpers.tiny_backbones import evaluated, images, tiny_resnet


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
    assert build_tap(backbone, first_layer='layer4.1.conv1').first_layer == 'layer4.1.conv1'


def test_cnn_rejects_attention_and_weights():
    backbone = tiny_resnet()
    with pytest.raises(ValueError, match='diversity.attn_div'):
        build_tap(backbone).validate(attn=True, keys=dict(attn='diversity.attn_div'))
    with pytest.raises(ValueError, match='diversity.weight_cond'):
        build_tap(backbone).validate(weights=True, keys=dict(weights='diversity.weight_cond'))
    with pytest.raises(ValueError, match='attn_layers'):
        build_tap(backbone, attn_layers=(0,))
    with pytest.raises(ValueError, match='q, k, v'):
        build_tap(backbone).qkv_weights()
    with pytest.raises(ValueError, match='layer4.1'):
        build_tap(backbone, first_layer='layer5.0')


def test_cnn_rejects_pre_norm_naming_the_config_key():
    backbone = tiny_resnet()
    key = "diversity.tap.similarity_tokens='pre_norm'"
    with pytest.raises(ValueError, match=key):
        build_tap(backbone, similarity_tokens='pre_norm', cfg_key='diversity.tap')
    tap = build_tap(backbone, cfg_key='diversity.tap')
    with pytest.raises(ValueError, match=key):
        tap.validate(pre_norm=True)
    with pytest.raises(ValueError, match=key):
        with tap.capture(pre_norm=True):
            pass


def test_cnn_probe_checks_contrastive_widths_at_build():
    tap = build_tap(tiny_resnet(), first_layer='layer4.0', cfg_key='diversity.tap')
    assert tap.token_stride() == (32, 32)
    with pytest.raises(ValueError, match='has width 32 but the last tokens have width 64'):
        tap.validate(first=True, keys=dict(first='diversity.patch_contrast'))


def test_efficientnet_blocks():
    backbone = evaluated(MODELS.build(dict(type='EfficientNet', arch='b0')))
    tap = build_tap(backbone)
    names = enumerate_blocks(backbone)
    last = f'layers.{len(backbone.layers) - 1}'  # the final 1x1 conv
    assert tap.layer_names == names
    assert tap.layer_names[0] == 'layers.0' and tap.layer_names[-1] == last
    assert 'layers.1.0' in tap.layer_names and 'layers.4.5' in tap.layer_names
    with tap.capture() as out:
        backbone(images(size=64))
    assert out.last.shape == (2, 4, 1280)
    assert out.first.shape[-1] == 320  # the final 1x1 conv widens


def test_feature_map_to_tokens_is_row_major():
    x = torch.arange(12.0).view(1, 2, 2, 3)  # (B, C, H, W)
    tokens, hw = feature_map_to_tokens(x)
    assert hw == (2, 3) and tokens.shape == (1, 6, 2)
    torch.testing.assert_close(tokens[0, 4], x[0, :, 1, 1])
    with pytest.raises(ValueError, match='feature map'):
        feature_map_to_tokens(torch.zeros(2, 3, 4))
