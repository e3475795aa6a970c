"""mmdiverse.checkpoint.convert.timm_swin: timm Swin <-> mmpretrain."""

import pytest
import torch

from mmdiverse.checkpoint.convert import convert_state_dict
from tests.helpers.state_dicts import (
    assert_loads_strictly,
    assert_same_tensors,
    build_mmpretrain,
    timm_state_dict,
)

timm = pytest.importorskip('timm')


def _tiny_swins():
    from timm.models.swin_transformer import SwinTransformer as TimmSwin

    torch.manual_seed(0)
    timm_model = TimmSwin(
        img_size=128,
        patch_size=4,
        window_size=4,
        embed_dim=32,
        depths=(2, 2, 2, 2),
        num_heads=(1, 2, 4, 8),
        num_classes=10,
    ).eval()
    for p in timm_model.parameters():
        p.data.add_(torch.randn_like(p) * 0.02)
    model = build_mmpretrain(
        dict(
            type='ImageClassifier',
            backbone=dict(
                type='SwinTransformer',
                img_size=128,
                window_size=4,
                drop_path_rate=0.0,
                arch=dict(embed_dims=32, depths=[2, 2, 2, 2], num_heads=[1, 2, 4, 8]),
            ),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=10, in_channels=256),
        )
    )
    return timm_model, model


def test_converted_timm_swin_computes_the_same_logits():
    timm_model, model = _tiny_swins()
    converted, report = convert_state_dict(timm_model.state_dict())
    assert report.src_format == 'timm-swin' and not report.unmapped
    assert sum(1 for *_, note in report.mapped if note) == 9  # 3 merges x (weight, norm w, b)
    assert_loads_strictly(model, converted)
    x = torch.randn(2, 3, 128, 128)
    with torch.no_grad():
        torch.testing.assert_close(model(x, mode='tensor'), timm_model(x), rtol=1e-4, atol=1e-5)


def test_timm_swin_round_trip_every_tensor_equal():
    sd = timm_state_dict('swin_tiny_patch4_window7_224')
    converted, report = convert_state_dict(sd)
    assert len(report.added) == 12  # relative_position_index of 12 blocks
    back, back_report = convert_state_dict(converted, 'mmpretrain', 'timm-swin')
    assert {why for _, why in back_report.dropped} == {'timm does not save this buffer'}
    assert_same_tensors(back, sd)
