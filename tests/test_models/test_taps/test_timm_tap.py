"""TimmTap: the family of the timm taps."""

import pytest

from mmdiverse.models.taps import TimmCNNTap, TimmTap, TimmViTTap
from tests.helpers.tiny_backbones import timm_resnet18, tiny_timm_vit


def test_select_dispatches_on_the_kind_of_timm_model():
    assert TimmTap.select(tiny_timm_vit()) is TimmViTTap
    assert TimmTap.select(timm_resnet18()) is TimmCNNTap
    # a kind named explicitly stays itself
    assert TimmViTTap.select(timm_resnet18()) is TimmViTTap
    assert TimmViTTap.is_token_model and not TimmCNNTap.is_token_model


def test_the_family_itself_is_not_constructed():
    with pytest.raises(TypeError, match='build_tap'):
        TimmTap(tiny_timm_vit())


def test_token_stride_comes_from_feature_info():
    vit, cnn = tiny_timm_vit(), timm_resnet18()
    assert TimmViTTap(vit).token_stride() == (8, 8)
    assert vit.timm_model.feature_info[-1]['reduction'] == 8
    assert TimmCNNTap(cnn).token_stride() == (32, 32)
    assert TimmCNNTap(cnn).input_size() is None
