"""build_tap: registry names, inference from the backbone class, families."""

import pytest
import torch.nn as nn

from mmdiverse.models.taps import (
    TAPS,
    CNNTap,
    SwinTap,
    TimmCNNTap,
    TimmTap,
    TimmViTTap,
    ViTTap,
    build_tap,
    infer_tap_type,
)
from tests.helpers.tiny_backbones import (
    timm_resnet18,
    tiny_deit,
    tiny_resnet,
    tiny_swin,
    tiny_timm_vit,
    tiny_vit,
)


def test_tap_type_from_registry_and_inference():
    backbone = tiny_vit()
    assert isinstance(build_tap(backbone, dict(type='ViTTap')), ViTTap)
    with pytest.raises(ValueError, match='unknown tap type'):
        build_tap(backbone, dict(type='NoSuchTap'))


@pytest.mark.parametrize(
    'make,expected',
    [
        (tiny_vit, ViTTap),
        (tiny_deit, ViTTap),
        (tiny_swin, SwinTap),
        (tiny_resnet, CNNTap),
        (tiny_timm_vit, TimmViTTap),
        (timm_resnet18, TimmCNNTap),
    ],
)
def test_inference_picks_the_tap_of_the_backbone(make, expected):
    backbone = make()
    assert type(build_tap(backbone)) is expected
    assert type(build_tap(backbone, dict(type=expected.__name__))) is expected


def test_timm_family_name_builds_the_kind_of_the_model():
    assert infer_tap_type(tiny_timm_vit()) is TimmTap
    assert type(build_tap(tiny_timm_vit(), dict(type='TimmTap'))) is TimmViTTap
    assert type(build_tap(timm_resnet18(), dict(type=TimmTap))) is TimmCNNTap


def test_kwargs_override_cfg_and_a_class_is_accepted_as_type():
    tap = build_tap(tiny_vit(), dict(type=ViTTap, first_layer=0), first_layer=1, cfg_key='x.tap')
    assert tap.first_layer == 1 and tap.cfg_key == 'x.tap'


def test_every_tap_is_registered():
    assert {'ViTTap', 'SwinTap', 'CNNTap', 'TimmTap', 'TimmViTTap', 'TimmCNNTap'} <= set(
        TAPS.module_dict
    )


def test_unmatched_module_falls_back_to_the_cnn_tap():
    backbone = nn.Sequential(nn.Sequential(nn.Conv2d(3, 4, 3)))
    assert type(build_tap(backbone)) is CNNTap
