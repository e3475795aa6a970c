"""The fork's mmseg 0.x UperNet + Microsoft-Swin checkpoints -> our mmseg 1.x layout
(mmdiverse.checkpoint.convert.mmseg0_swin)."""

import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmdiverse.apis import build_model
from mmdiverse.checkpoint import convert_state_dict, detect_format, load_pretrained_backbone
from mmdiverse.checkpoint.convert import swin_official
from tests.helpers.fast_init import skip_random_init
from tests.helpers.fork_layouts import SWIN_L, fork_swin_backbone, fork_upernet_swin
from tests.helpers.tools import REPO_ROOT

ADE_CONFIG = osp.join(REPO_ROOT, 'configs', 'seg', 'upernet_swin_l_ade20k.py')
SMALL = dict(embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4), window=4)


def small_config(num_classes=150):
    """configs/seg/upernet_swin_l_ade20k.py at small widths (the converter is
    width-agnostic; full-size shapes are checked on the meta device below)."""
    cfg = Config.fromfile(ADE_CONFIG)
    backbone = cfg.model.backbone
    backbone.pop('init_cfg', None)
    backbone.arch = dict(embed_dims=16, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4])
    backbone.window_size = 4
    cfg.model.decode_head.update(
        in_channels=[16, 32, 64, 128], channels=16, num_classes=num_classes
    )
    cfg.model.auxiliary_head.update(in_channels=64, channels=8, num_classes=num_classes)
    return cfg


def small_fork_state_dict(num_classes=150, **kwargs):
    return fork_upernet_swin(
        **SMALL, num_classes=num_classes, channels=16, aux_channels=8, **kwargs
    )


def test_detected_and_converted_into_our_model_strictly():
    fork = small_fork_state_dict()
    assert detect_format(fork) == 'mmseg0-swin'
    converted, report = convert_state_dict(fork)
    assert report.dst_format == 'mmseg' and not report.unmapped and not report.dropped
    assert len(report.mapped) == len(fork)
    model = build_model(small_config())
    model.load_state_dict(converted, strict=True)
    after = model.state_dict()
    assert sorted(after) == sorted(converted)
    for key, value in converted.items():
        assert torch.equal(after[key], value), key
    # Heads are copied key for key; patch merging reordered (3 stages x 3 tensors).
    assert torch.equal(
        after['decode_head.psp_modules.3.1.conv.weight'],
        fork['decode_head.psp_modules.3.1.conv.weight'],
    )
    assert torch.equal(
        after['auxiliary_head.convs.0.bn.running_var'],
        fork['auxiliary_head.convs.0.bn.running_var'],
    )
    assert sum(1 for *_, note in report.mapped if note) == 9


def test_backbone_mapped_exactly_like_the_microsoft_classifier_files():
    """The fork's backbone is Microsoft's Swin: the same tensors as the
    swin-official converter gives (which test_convert.py checks against timm's
    forward pass), plus the per-stage output norms."""
    fork = small_fork_state_dict()
    converted, _ = convert_state_dict(fork)
    classifier = fork_swin_backbone(
        {}, **SMALL, prefix='', out_norms=False, gen=torch.Generator().manual_seed(0)
    )
    as_classifier, _ = swin_official.to_mmpretrain(classifier)
    for key, value in as_classifier.items():
        assert torch.equal(converted[key], value), key
    assert {k for k in converted if k.startswith('backbone.norm')} == {
        f'backbone.norm{i}.{p}' for i in range(4) for p in ('weight', 'bias')
    }


def test_round_trip_is_bit_exact():
    fork = small_fork_state_dict()
    converted, _ = convert_state_dict(fork)
    back, report = convert_state_dict(converted, 'mmseg', 'mmseg0-swin')
    assert list(back) == list(fork) and not report.unmapped
    for key, value in fork.items():
        assert torch.equal(back[key], value), key


def test_full_size_swin_l_upernet_fits_the_ade20k_config_key_for_key():
    """Every key of the fork's Swin-L UperNet (150 classes), converted, has
    the shape and dtype of our model built from configs/seg/upernet_swin_l_ade20k.py,
    and nothing is left over: what load_state_dict(strict=True) checks."""
    fork = fork_upernet_swin(**SWIN_L, num_classes=150, device='meta')
    converted, report = convert_state_dict(fork)
    assert not report.unmapped
    cfg = Config.fromfile(ADE_CONFIG)
    cfg.model.backbone.pop('init_cfg', None)
    with skip_random_init():
        expected = build_model(cfg).state_dict()
    assert sorted(converted) == sorted(expected)
    for key, value in expected.items():
        assert (converted[key].shape, converted[key].dtype) == (value.shape, value.dtype), key


def test_a_key_of_another_head_is_reported_unmapped():
    fork = small_fork_state_dict()
    fork['decode_head.extra_attention.weight'] = torch.zeros(1)
    fork['backbone.layers.0.blocks.0.attn.extra_scale'] = torch.zeros(1)
    _, report = convert_state_dict(fork)
    assert sorted(report.unmapped) == [
        'backbone.layers.0.blocks.0.attn.extra_scale',
        'decode_head.extra_attention.weight',
    ]
    assert 'could not map:\n  decode_head.extra_attention.weight' in report.summary()


def test_absolute_position_embedding_of_ape_models_becomes_tokens():
    fork = small_fork_state_dict()
    grid = torch.randn(1, 16, 6, 6)
    fork['backbone.absolute_pos_embed'] = grid
    converted, _ = convert_state_dict(fork)
    tokens = converted['backbone.absolute_pos_embed']
    assert tokens.shape == (1, 36, 16)
    assert torch.equal(tokens[0, 7], grid[0, :, 1, 1])  # row-major grid position
    back, _ = convert_state_dict(converted, 'mmseg', 'mmseg0-swin')
    assert torch.equal(back['backbone.absolute_pos_embed'], grid)


def test_a_classifier_layout_cannot_become_a_segmentor():
    with pytest.raises(ValueError, match='cannot convert swin-official'):
        convert_state_dict(
            fork_swin_backbone({}, **SMALL, prefix='', out_norms=False), 'swin-official', 'mmseg'
        )


def test_fork_segmentor_can_seed_our_backbone_transfer():
    """The strict backbone loader takes the fork's segmentation file as a
    backbone checkpoint too (its heads are outside the prefix)."""
    from mmpretrain.models import SwinTransformer

    fork = small_fork_state_dict()
    backbone = SwinTransformer(
        arch=dict(embed_dims=16, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4]),
        window_size=4,
        out_indices=(0, 1, 2, 3),
    )
    report = load_pretrained_backbone(backbone, {'state_dict': copy.deepcopy(fork)}, logger=None)
    assert report.source_format == 'mmseg0-swin' and not report.new
    assert {k.split('.')[0] for k in report.outside_prefix} == {'decode_head', 'auxiliary_head'}
