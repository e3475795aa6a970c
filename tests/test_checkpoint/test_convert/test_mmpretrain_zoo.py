"""mmdiverse.checkpoint.convert.mmpretrain_zoo: mmpretrain state dicts and
the zoo files of mmcls / mmpretrain, normalised and round-tripped."""

from collections import OrderedDict

import pytest
import torch

from mmdiverse.checkpoint.convert import convert_state_dict, detect_format
from tests.helpers.state_dicts import assert_same_tensors, build_mmpretrain

timm = pytest.importorskip('timm')


MMP_MODELS = {
    'deit-small': dict(
        type='ImageClassifier',
        backbone=dict(type='VisionTransformer', arch='deit-small', img_size=224, patch_size=16),
        head=dict(type='VisionTransformerClsHead', num_classes=1000, in_channels=384),
    ),
    'swin-tiny': dict(
        type='ImageClassifier',
        backbone=dict(type='SwinTransformer', arch='tiny', img_size=224),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=1000, in_channels=768),
    ),
}


@pytest.mark.parametrize(
    'arch,other',
    [('deit-small', 'timm-vit'), ('swin-tiny', 'timm-swin'), ('swin-tiny', 'swin-official')],
)
def test_mmpretrain_state_dict_round_trips(arch, other):
    sd = build_mmpretrain(MMP_MODELS[arch]).state_dict()
    assert detect_format(sd) == 'mmpretrain'
    same, report = convert_state_dict(sd)
    assert not report.dropped and not report.unmapped
    assert_same_tensors(same, sd)
    there, there_report = convert_state_dict(sd, 'mmpretrain', other)
    assert not there_report.unmapped
    back, back_report = convert_state_dict(there, other, 'mmpretrain')
    assert not back_report.unmapped
    assert_same_tensors(back, sd)


def test_mmpretrain_zoo_files_are_normalised():
    """Old mmcls Swin files (final ``norm.``, ``attn_mask``), DDP prefixes,
    backbone-only files and training-only state."""
    model = build_mmpretrain(MMP_MODELS['swin-tiny'])
    sd = model.state_dict()
    old = OrderedDict()
    for key, value in sd.items():
        old['module.' + key.replace('backbone.norm3.', 'backbone.norm.')] = value
    old['module.backbone.stages.0.blocks.1.attn.w_msa.attn_mask'] = torch.zeros(64, 49, 49)
    old['module.ema_backbone_patch_embed_projection_weight'] = torch.zeros(1)
    old['module.diversity.losses.weight_cond.u_0'] = torch.zeros(3)
    out, report = convert_state_dict(old)
    assert report.src_format == 'mmpretrain'
    assert_same_tensors(out, sd)
    dropped = dict(report.dropped)
    assert set(dropped) == {
        'backbone.stages.0.blocks.1.attn.w_msa.attn_mask',
        'ema_backbone_patch_embed_projection_weight',
        'diversity.losses.weight_cond.u_0',
    }

    backbone_only = OrderedDict(
        (k[len('backbone.') :], v) for k, v in sd.items() if k.startswith('backbone.')
    )
    out, report = convert_state_dict(backbone_only)
    assert report.src_format == 'mmpretrain'
    assert list(out) == [k for k in sd if k.startswith('backbone.')]
