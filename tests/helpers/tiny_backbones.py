"""Tiny stock backbones (built through mmpretrain's registry) and inputs
for the tap tests."""

import pytest
import torch
from mmpretrain.registry import MODELS

VIT_ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


def evaluated(module):
    """``module.eval()``; some mmpretrain backbones' ``train`` returns None."""
    module.eval()
    return module


def tiny_vit(num_layers=2, **kwargs):
    """``VisionTransformer``: 32 px, 8 px patches (4x4 grid), width 32."""
    cfg = dict(
        type='VisionTransformer',
        arch=dict(VIT_ARCH, num_layers=num_layers),
        img_size=32,
        patch_size=8,
        drop_path_rate=0.0,
    )
    cfg.update(kwargs)
    return evaluated(MODELS.build(cfg))


def tiny_deit(**kwargs):
    """``DistilledVisionTransformer`` (class + distillation token)."""
    cfg = dict(
        type='DistilledVisionTransformer', arch=VIT_ARCH, img_size=32, patch_size=8, out_type='raw'
    )
    cfg.update(kwargs)
    return evaluated(MODELS.build(cfg))


def tiny_swin(**kwargs):
    """``SwinTransformer``: two stages (8x8 then 4x4 tokens), 2x2 windows."""
    cfg = dict(
        type='SwinTransformer',
        arch=dict(embed_dims=16, depths=[2, 2], num_heads=[2, 2]),
        img_size=32,
        window_size=2,
        out_indices=(1,),
        drop_path_rate=0.0,
    )
    cfg.update(kwargs)
    return evaluated(MODELS.build(cfg))


def tiny_resnet():
    return evaluated(MODELS.build(dict(type='ResNet', depth=18, stem_channels=8, base_channels=8)))


def tiny_timm_vit(**kwargs):
    """timm ``vit_tiny_patch16_224`` shrunk to 32 px / 8 px patches."""
    pytest.importorskip('timm')
    cfg = dict(
        type='TIMMBackbone',
        model_name='vit_tiny_patch16_224',
        img_size=32,
        patch_size=8,
        embed_dim=32,
        depth=2,
        num_heads=2,
    )
    cfg.update(kwargs)
    return evaluated(MODELS.build(cfg))


def timm_resnet18():
    pytest.importorskip('timm')
    return evaluated(MODELS.build(dict(type='TIMMBackbone', model_name='resnet18')))


def images(batch=2, size=32, seed=0):
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def no_hooks_left(backbone) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in backbone.modules())
