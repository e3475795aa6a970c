"""mmdiverse.checkpoint.convert.timm_vit: timm ViT / DeiT <-> mmpretrain."""

import pytest
import torch

from mmdiverse.checkpoint.convert import convert_state_dict, detect_format
from tests.helpers.state_dicts import (
    assert_loads_strictly,
    assert_same_tensors,
    build_mmpretrain,
    timm_state_dict,
)

timm = pytest.importorskip('timm')


@pytest.mark.parametrize(
    'name',
    ['deit_small_patch16_224', 'deit_tiny_distilled_patch16_224', 'vit_base_patch16_clip_224'],
)
def test_timm_vit_round_trip_every_tensor_equal(name):
    sd = timm_state_dict(name)
    assert detect_format(sd) == 'timm-vit'
    converted, report = convert_state_dict(sd)
    assert not report.unmapped and not report.dropped
    assert len(report.mapped) == len(sd)
    back, back_report = convert_state_dict(converted, 'mmpretrain', 'timm-vit')
    assert not back_report.unmapped
    assert_same_tensors(back, sd)


def test_timm_deit_small_loads_into_mmpretrain_deit_small():
    sd = timm_state_dict('deit_small_patch16_224')
    converted, _ = convert_state_dict(sd, 'timm-deit')
    model = build_mmpretrain(
        dict(
            type='ImageClassifier',
            backbone=dict(type='VisionTransformer', arch='deit-small', img_size=224, patch_size=16),
            head=dict(type='VisionTransformerClsHead', num_classes=1000, in_channels=384),
        )
    )
    assert_loads_strictly(model, converted)


@pytest.mark.parametrize('layer_scale', [0.0, 0.1])
def test_converted_timm_vit_computes_the_same_logits(layer_scale):
    from timm.models.vision_transformer import VisionTransformer as TimmViT

    torch.manual_seed(0)
    timm_model = TimmViT(
        img_size=32,
        patch_size=8,
        embed_dim=64,
        depth=2,
        num_heads=4,
        num_classes=10,
        init_values=layer_scale or None,
    ).eval()
    for p in timm_model.parameters():  # break symmetries of the default init
        p.data.add_(torch.randn_like(p) * 0.02)
    converted, report = convert_state_dict(timm_model.state_dict())
    assert not report.unmapped
    model = build_mmpretrain(
        dict(
            type='ImageClassifier',
            backbone=dict(
                type='VisionTransformer',
                img_size=32,
                patch_size=8,
                layer_scale_init_value=layer_scale,
                arch=dict(embed_dims=64, num_layers=2, num_heads=4, feedforward_channels=256),
            ),
            head=dict(type='VisionTransformerClsHead', num_classes=10, in_channels=64),
        )
    )
    assert_loads_strictly(model, converted)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x, mode='tensor'), timm_model(x), rtol=1e-4, atol=1e-5)
