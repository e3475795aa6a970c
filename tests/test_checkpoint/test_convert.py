"""Converters between timm / Microsoft Swin / mmpretrain layouts.

State dicts come from the real model definitions (timm and mmpretrain) at
random initialisation; equivalence is checked tensor by tensor and, for
small models, by comparing the two libraries' forward passes.
"""
from collections import OrderedDict

import pytest
import torch

from mmdiverse.checkpoint.convert import convert_state_dict, detect_format
from mmdiverse.checkpoint.convert.common import (Rule, merge_order_to_unfold,
                                                 relative_position_index,
                                                 unfold_order_to_merge)
from mmdiverse.checkpoint.read import extract_state_dict
from tests.conftest import skip_random_init

timm = pytest.importorskip('timm')


def timm_state_dict(name):
    """The state dict of timm model ``name`` with random values: keys, shapes
    and dtypes from the real definition (built on the meta device, which
    skips seconds of random initialisation per model)."""
    meta = timm.create_model(name, device='meta').state_dict()
    torch.manual_seed(0)
    return OrderedDict((k, torch.randn(v.shape, dtype=v.dtype)) for k, v in meta.items())


def build_mmpretrain(cfg):
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    return MODELS.build(cfg).eval()


def assert_same_tensors(a, b):
    assert list(a) == list(b), f'keys differ: {sorted(set(a) ^ set(b))[:10]}'
    for key in a:
        assert a[key].dtype == b[key].dtype, key
        assert torch.equal(a[key], b[key]), key


def assert_loads_strictly(model, state_dict):
    result = model.load_state_dict(state_dict, strict=False)
    assert not result.missing_keys, result.missing_keys[:10]
    assert not result.unexpected_keys, result.unexpected_keys[:10]
    for key, value in model.state_dict().items():
        assert torch.equal(value, state_dict[key]), key


# ----------------------------------------------------------------- building blocks
def test_rule_templates_shift_indices_both_ways():
    rule = Rule('layers.{s+1}.downsample.{p}', 'backbone.stages.{s}.downsample.{p}')
    src, dst, _ = rule.sides(reverse=False)
    values = src.match('layers.3.downsample.norm.weight', {})
    assert values == {'s': 2, 'p': 'norm.weight'}
    assert dst.format(values, {}) == 'backbone.stages.2.downsample.norm.weight'
    src, dst, _ = rule.sides(reverse=True)
    values = src.match('backbone.stages.0.downsample.reduction.weight', {})
    assert dst.format(values, {}) == 'layers.1.downsample.reduction.weight'
    # index 0 has no preceding stage, and constants must equal the context
    assert rule.src.match('layers.0.downsample.norm.weight', {}) is None
    final = Rule('norm.{p}', 'backbone.norm{last}.{p}')
    assert final.dst.match('backbone.norm3.weight', {'last': 3}) == {'last': 3, 'p': 'weight'}
    assert final.dst.match('backbone.norm0.weight', {'last': 3}) is None


def test_patch_merging_reorder_matches_mmcv_unfold():
    """Reordered weights make mmcv's PatchMerging compute what timm's does."""
    from mmcv.cnn.bricks.transformer import PatchMerging
    from timm.models.swin_transformer import PatchMerging as TimmPatchMerging
    torch.manual_seed(0)
    timm_merge = TimmPatchMerging(dim=8, out_dim=16).eval()
    mmcv_merge = PatchMerging(8, 16, bias=False).eval()
    mmcv_merge.reduction.weight.data = merge_order_to_unfold(timm_merge.reduction.weight.data)
    mmcv_merge.norm.weight.data = merge_order_to_unfold(timm_merge.norm.weight.data)
    mmcv_merge.norm.bias.data = merge_order_to_unfold(timm_merge.norm.bias.data)
    x = torch.randn(2, 6, 4, 8)  # B, H, W, C
    expected = timm_merge(x)
    out, hw = mmcv_merge(x.flatten(1, 2), (6, 4))
    assert hw == (3, 2)
    torch.testing.assert_close(out.view(2, 3, 2, 16), expected, rtol=1e-5, atol=1e-5)
    w = torch.randn(5, 32)
    assert torch.equal(unfold_order_to_merge(merge_order_to_unfold(w)), w)


@pytest.mark.parametrize('window', [4, 7, 12])
def test_relative_position_index_equals_mmpretrain_buffer(window):
    from mmpretrain.models.utils.attention import WindowMSA
    attn = WindowMSA(embed_dims=8, window_size=(window, window), num_heads=2)
    expected = attn.relative_position_index
    got = relative_position_index(window)
    assert got.dtype == expected.dtype and torch.equal(got, expected)


def test_extract_state_dict_unwraps_containers_and_ddp_prefix():
    sd = OrderedDict([('module.a', torch.zeros(1)), ('module.b', torch.ones(2))])
    for container in ({'state_dict': sd, 'optimizer': {}}, {'model': sd}, sd):
        found, _ = extract_state_dict(container)
        assert list(found) == ['a', 'b']
    found, where = extract_state_dict({'model': {}, 'model_ema': sd}, key='model_ema')
    assert where == 'model_ema' and list(found) == ['a', 'b']
    with pytest.raises(ValueError, match='cannot find the model weights'):
        extract_state_dict({'epoch': 3})


def test_unknown_layout_is_refused():
    with pytest.raises(ValueError, match='unrecognised checkpoint layout'):
        detect_format({'conv1.weight': torch.zeros(1)})


# ------------------------------------------------------------------------ timm ViT
@pytest.mark.parametrize('name', ['deit_small_patch16_224', 'deit_tiny_distilled_patch16_224',
                                  'vit_base_patch16_clip_224'])
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
    model = build_mmpretrain(dict(
        type='ImageClassifier',
        backbone=dict(type='VisionTransformer', arch='deit-small', img_size=224, patch_size=16),
        head=dict(type='VisionTransformerClsHead', num_classes=1000, in_channels=384)))
    assert_loads_strictly(model, converted)


@pytest.mark.parametrize('layer_scale', [0., 0.1])
def test_converted_timm_vit_computes_the_same_logits(layer_scale):
    from timm.models.vision_transformer import VisionTransformer as TimmViT
    torch.manual_seed(0)
    timm_model = TimmViT(img_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=4,
                         num_classes=10, init_values=layer_scale or None).eval()
    for p in timm_model.parameters():  # break symmetries of the default init
        p.data.add_(torch.randn_like(p) * 0.02)
    converted, report = convert_state_dict(timm_model.state_dict())
    assert not report.unmapped
    model = build_mmpretrain(dict(
        type='ImageClassifier',
        backbone=dict(type='VisionTransformer', img_size=32, patch_size=8,
                      layer_scale_init_value=layer_scale,
                      arch=dict(embed_dims=64, num_layers=2, num_heads=4,
                                feedforward_channels=256)),
        head=dict(type='VisionTransformerClsHead', num_classes=10, in_channels=64)))
    assert_loads_strictly(model, converted)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x, mode='tensor'), timm_model(x), rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------- Swin
def _tiny_swins():
    from timm.models.swin_transformer import SwinTransformer as TimmSwin
    torch.manual_seed(0)
    timm_model = TimmSwin(img_size=128, patch_size=4, window_size=4, embed_dim=32,
                          depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8), num_classes=10).eval()
    for p in timm_model.parameters():
        p.data.add_(torch.randn_like(p) * 0.02)
    model = build_mmpretrain(dict(
        type='ImageClassifier',
        backbone=dict(type='SwinTransformer', img_size=128, window_size=4, drop_path_rate=0.,
                      arch=dict(embed_dims=32, depths=[2, 2, 2, 2], num_heads=[1, 2, 4, 8])),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=10, in_channels=256)))
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


def test_official_swin_layout_agrees_with_timms_own_importer():
    """Microsoft layout: timm's checkpoint_filter_fn (its importer of the
    Microsoft files) and our converter must read it the same way."""
    from timm.models.swin_transformer import checkpoint_filter_fn
    timm_model = timm.create_model('swin_tiny_patch4_window7_224', device='meta')
    sd = timm_state_dict('swin_tiny_patch4_window7_224')
    official, _ = convert_state_dict(sd, 'timm-swin', 'swin-official')
    assert 'layers.0.downsample.reduction.weight' in official and 'head.weight' in official
    assert official['layers.0.blocks.0.attn.relative_position_index'].shape == (49, 49)
    official['layers.0.blocks.1.attn_mask'] = torch.zeros(64, 49, 49)  # saved by Microsoft's code
    assert detect_format(official) == 'swin-official'
    assert_same_tensors(checkpoint_filter_fn(dict(official), timm_model), sd)
    via_official, report = convert_state_dict(official)
    assert report.dropped == [('layers.0.blocks.1.attn_mask',
                               'shifted-window mask: mmpretrain computes it')]
    via_timm, _ = convert_state_dict(sd)
    assert_same_tensors(via_official, via_timm)


def test_timm_swin_round_trip_every_tensor_equal():
    sd = timm_state_dict('swin_tiny_patch4_window7_224')
    converted, report = convert_state_dict(sd)
    assert len(report.added) == 12  # relative_position_index of 12 blocks
    back, back_report = convert_state_dict(converted, 'mmpretrain', 'timm-swin')
    assert {why for _, why in back_report.dropped} == {'timm does not save this buffer'}
    assert_same_tensors(back, sd)


# ------------------------------------------------------------------ mmpretrain
MMP_MODELS = {
    'deit-small': dict(
        type='ImageClassifier',
        backbone=dict(type='VisionTransformer', arch='deit-small', img_size=224, patch_size=16),
        head=dict(type='VisionTransformerClsHead', num_classes=1000, in_channels=384)),
    'swin-tiny': dict(
        type='ImageClassifier',
        backbone=dict(type='SwinTransformer', arch='tiny', img_size=224),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=1000, in_channels=768)),
}


@pytest.mark.parametrize('arch,other', [('deit-small', 'timm-vit'), ('swin-tiny', 'timm-swin'),
                                        ('swin-tiny', 'swin-official')])
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
    assert set(dropped) == {'backbone.stages.0.blocks.1.attn.w_msa.attn_mask',
                            'ema_backbone_patch_embed_projection_weight',
                            'diversity.losses.weight_cond.u_0'}

    backbone_only = OrderedDict((k[len('backbone.'):], v) for k, v in sd.items()
                                if k.startswith('backbone.'))
    out, report = convert_state_dict(backbone_only)
    assert report.src_format == 'mmpretrain'
    assert list(out) == [k for k in sd if k.startswith('backbone.')]


# --------------------------------------------------- full-size published weights
def _meta_state_dict(name):
    return timm.create_model(name, device='meta').state_dict()


@pytest.mark.parametrize('name,backbone', [
    ('swin_large_patch4_window12_384',
     dict(type='SwinTransformer', arch='large', img_size=384,
          stage_cfgs=dict(block_cfgs=dict(window_size=12)))),
    ('vit_large_patch16_224', dict(type='VisionTransformer', arch='l', img_size=224)),
])
def test_published_22k_layouts_fit_our_full_size_backbones(name, backbone):
    """The weights the Swin-L / ViT-L configs start from map onto their
    backbones key for key and shape for shape (timm on the meta device)."""
    sd = _meta_state_dict(name)
    converted, report = convert_state_dict(sd)
    assert not report.unmapped
    if 'swin' in name:  # and through the Microsoft layout of the same weights
        official, _ = convert_state_dict(sd, 'timm-swin', 'swin-official')
        via_official, _ = convert_state_dict(official)
        assert list(via_official) == list(converted)
    from mmpretrain.registry import MODELS
    with skip_random_init():  # shapes only: skip seconds of random fills
        model = MODELS.build(backbone)
    expected = {f'backbone.{k}': tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in converted.items() if k.startswith('backbone.')}
    assert got == expected


def test_fork_swin_l_imagenet_release_fits_the_swin_l_config():
    """The fork's Swin-L ImageNet checkpoint (Microsoft layout, window 12 at
    384, 1000 classes): nothing unmapped, the shifted-window masks dropped,
    and backbone + head fit configs/pretrain/swin_l_diverse.py key for key."""
    import os.path as osp

    from mmengine.config import Config

    from mmdiverse.apis import build_model
    from tests.conftest import REPO_ROOT
    from tests.test_checkpoint.fork_layouts import SWIN_L, microsoft_swin_classifier
    sd = microsoft_swin_classifier(**SWIN_L, img_size=384, num_classes=1000, device='meta')
    assert detect_format(sd) == 'swin-official'
    converted, report = convert_state_dict(sd)
    assert not report.unmapped
    masks = [k for k in sd if k.endswith('attn_mask')]
    assert len(masks) == 1 + 1 + 9 and sorted(k for k, _ in report.dropped) == sorted(masks)
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'pretrain', 'swin_l_diverse.py'))
    cfg.model.backbone.pop('init_cfg', None)
    with skip_random_init():
        model = build_model(cfg)
    expected = {k: (tuple(v.shape), v.dtype) for k, v in model.state_dict().items()
                if k.startswith(('backbone.', 'head.'))}
    assert {k: (tuple(v.shape), v.dtype) for k, v in converted.items()} == expected
