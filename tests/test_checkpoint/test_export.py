"""Transfer export: backbone.* + head.* with meta['mmdiverse']."""

import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmdiverse.checkpoint import (
    describe_state_dict,
    export_backbone,
    regularizers_from_cfg,
    safe_load,
)
from tests.helpers.tools import REPO_ROOT

PRETRAIN = osp.join(REPO_ROOT, 'configs', 'pretrain')
ALL_TERMS = sorted(['patch_cos', 'patch_contrast', 'patch_mix', 'attn_div', 'weight_cond'])


def build(cfg):
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    init_default_scope('mmpretrain')
    return MODELS.build(cfg)


@pytest.fixture(scope='module')
def deit_small():
    return build(
        dict(
            type='ImageClassifier',
            backbone=dict(type='VisionTransformer', arch='deit-small', img_size=224, patch_size=16),
            head=dict(type='VisionTransformerClsHead', num_classes=1000, in_channels=384),
        )
    )


def test_describe_reads_the_architecture_from_weights(deit_small):
    info = describe_state_dict(deit_small.state_dict())
    assert info['backbone'] == 'VisionTransformer'
    assert info['arch'] == 'deit-small'
    assert info['arch_settings'] == dict(
        embed_dims=384, num_layers=12, num_heads=6, feedforward_channels=1536
    )
    assert (info['img_size'], info['patch_size'], info['window_size'], info['token_stride']) == (
        224,
        16,
        None,
        16,
    )

    swin = build(
        dict(
            type='ImageClassifier',
            backbone=dict(
                type='SwinTransformer',
                img_size=384,
                window_size=12,
                arch=dict(embed_dims=32, depths=[2, 2, 2, 2], num_heads=[1, 2, 4, 8]),
            ),
        )
    )
    info = describe_state_dict(swin.state_dict())
    assert info['backbone'] == 'SwinTransformer' and info['arch'] is None
    assert info['arch_settings'] == dict(embed_dims=32, depths=[2, 2, 2, 2], num_heads=[1, 2, 4, 8])
    assert (info['patch_size'], info['window_size'], info['token_stride']) == (4, 12, 32)


def test_regularizers_of_the_pretrain_configs():
    diverse = Config.fromfile(osp.join(PRETRAIN, 'swin_l_diverse.py'))
    terms, weights = regularizers_from_cfg(diverse.model)
    assert terms == ALL_TERMS
    assert weights == dict(
        patch_cos=0.5, patch_contrast=0.5, patch_mix=1.0, attn_div=1e-4, weight_cond=5e-4
    )
    baseline = Config.fromfile(osp.join(PRETRAIN, 'swin_l_baseline.py'))
    assert regularizers_from_cfg(baseline.model) == ([], {})
    off = dict(
        diversity=dict(
            patch_cos=dict(type='PatchCosineLoss', loss_weight=0.0),
            patch_mix=dict(type='PatchMixingLoss'),
        )
    )
    assert regularizers_from_cfg(off) == (['patch_mix'], {'patch_mix': 1.0})


def _training_checkpoint(model, cfg_text, meta=None):
    """What mmengine's Runner.save_checkpoint writes."""
    state_dict = dict(model.state_dict())
    state_dict['diversity.losses.weight_cond.u_0'] = torch.randn(384)
    return {
        'meta': dict(cfg=cfg_text, epoch=300, iter=375300, **(meta or {})),
        'state_dict': state_dict,
        'optimizer': {'state': {}, 'param_groups': []},
        'message_hub': {'log_scalars': {}},
        'param_schedulers': [],
    }


def test_export_from_config_text_and_load_as_a_segmentation_backbone(tmp_path, deit_small):
    cfg = Config.fromfile(osp.join(PRETRAIN, 'deit_s12_diverse.py'))
    src, out = str(tmp_path / 'epoch_300.pth'), str(tmp_path / 'export.pth')
    torch.save(_training_checkpoint(deit_small, cfg.pretty_text), src)

    meta = export_backbone(src, out)
    exported = safe_load(out)
    assert set(exported) == {'state_dict', 'meta'}
    keys = set(exported['state_dict'])
    assert keys == set(deit_small.state_dict())
    assert all(k.startswith(('backbone.', 'head.')) for k in keys)
    assert exported['meta']['mmdiverse'] == meta
    assert meta['regularizers'] == ALL_TERMS
    assert (meta['backbone'], meta['arch'], meta['img_size'], meta['patch_size']) == (
        'VisionTransformer',
        'deit-small',
        224,
        16,
    )
    assert meta['trained_epochs'] == 300 and meta['source'] == 'epoch_300.pth'

    # what an mmseg config does: an mmpretrain backbone with a prefixed Pretrained init
    from mmpretrain.registry import MODELS

    backbone = MODELS.build(
        dict(
            type='VisionTransformer',
            arch='deit-small',
            img_size=224,
            patch_size=16,
            out_indices=(3, 5, 7, 11),
            out_type='featmap',
            init_cfg=dict(type='Pretrained', checkpoint=out, prefix='backbone.'),
        )
    )
    backbone.init_weights()
    for key, value in backbone.state_dict().items():
        assert torch.equal(value, deit_small.state_dict()['backbone.' + key]), key

    assert export_backbone(src, str(tmp_path / 'nohead.pth'), keep_head=False)
    assert all(
        k.startswith('backbone.') for k in safe_load(str(tmp_path / 'nohead.pth'))['state_dict']
    )


def test_export_keeps_hook_metadata(tmp_path, deit_small):
    hook_meta = {
        'mmdiverse': dict(
            backbone='VisionTransformer', arch='deit-small', regularizers=[], img_size=224
        )
    }
    src = str(tmp_path / 'ckpt.pth')
    torch.save(_training_checkpoint(deit_small, 'not parsed', hook_meta), src)
    meta = export_backbone(src, str(tmp_path / 'out.pth'))
    assert meta['regularizers'] == [] and meta['arch'] == 'deit-small'


def test_export_refuses_other_layouts(tmp_path):
    src = str(tmp_path / 'timm.pth')
    torch.save({'blocks.0.attn.qkv.weight': torch.zeros(3, 1)}, src)
    with pytest.raises(ValueError, match='not in mmpretrain layout'):
        export_backbone(src, str(tmp_path / 'out.pth'))
