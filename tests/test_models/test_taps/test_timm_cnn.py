"""TimmCNNTap: convolutional timm models."""

import pytest

from mmdiverse.models.taps import TimmCNNTap, TimmTap, build_tap
from tests.helpers.tiny_backbones import images, timm_resnet18


def test_timm_cnn_uses_feature_map():
    backbone = timm_resnet18()
    tap = build_tap(backbone)
    assert isinstance(tap, TimmTap) and not tap.is_token_model
    assert isinstance(tap, TimmCNNTap)
    assert tap.layer_name(tap.first_layer) == 'layer4.1'
    with tap.capture() as out:
        backbone(images(size=64))
    assert out.last.shape == (2, 4, 512) and out.first.shape == (2, 4, 512)
    with pytest.raises(ValueError, match='no attention'):
        tap.validate(attn=True)


def test_timm_cnn_layers_are_relative_to_the_timm_model():
    backbone = timm_resnet18()
    tap = build_tap(backbone, first_layer='layer3.0.conv1')
    assert tap.first_layer == 'layer3.0.conv1'
    assert 'any submodule name of ResNet' in tap.valid_layers_message()
    with pytest.raises(ValueError, match='q, k, v'):
        tap.qkv_weights()
    with pytest.raises(ValueError, match="tap.similarity_tokens='pre_norm'"):
        build_tap(backbone, similarity_tokens='pre_norm')
