"""Tiny segmentors from the configs/seg configs, and batches for them (shared by
the segmentor tests)."""

import copy
import os.path as osp

import torch
from mmengine.config import Config

import mmdiverse  # noqa: F401  (registers the segmentors and losses)
from tests.helpers.tools import REPO_ROOT

TINY_SWIN = dict(embed_dims=32, depths=[2, 2, 2, 2], num_heads=[2, 2, 2, 2])


def seg_cfg(name='upernet_swin_l_ade20k.py', checkpoint=None, **model_overrides):
    """The model of a configs/seg config, shrunk to a tiny Swin at 64 px."""
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'seg', name)).model
    cfg.backbone.update(
        arch=copy.deepcopy(TINY_SWIN), img_size=64, window_size=4, drop_path_rate=0.0
    )
    if checkpoint is None:
        cfg.backbone.init_cfg = None
    else:
        cfg.backbone.init_cfg.checkpoint = checkpoint
    cfg.decode_head.update(in_channels=[32, 64, 128, 256], channels=16, num_classes=4)
    cfg.auxiliary_head.update(in_channels=128, channels=16, num_classes=4)
    cfg.data_preprocessor.size = (64, 64)
    cfg.update(model_overrides)
    return cfg


def build(cfg):
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    init_default_scope('mmseg')
    return revert_sync_batchnorm(MODELS.build(cfg))


def batch(model, n=2, size=64, classes=4, seed=0):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    gen = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for _ in range(n):
        inputs.append(torch.randint(0, 256, (3, size, size), generator=gen, dtype=torch.uint8))
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(
            data=torch.randint(0, classes, (1, size, size), generator=gen)
        )
        sample.set_metainfo(
            dict(img_shape=(size, size), ori_shape=(size, size), pad_shape=(size, size))
        )
        samples.append(sample)
    return model.data_preprocessor(dict(inputs=inputs, data_samples=samples), True)


def pretrained_swin_checkpoint(path, drop=()):
    from mmpretrain.models import SwinTransformer

    backbone = SwinTransformer(
        arch=copy.deepcopy(TINY_SWIN), img_size=32, window_size=4, pad_small_map=True
    )
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for param in backbone.parameters():
            param.copy_(torch.randn(param.shape, generator=gen))
    state = {f'backbone.{k}': v for k, v in backbone.state_dict().items() if k not in drop}
    state['head.fc.weight'] = torch.randn(4, 256)
    state['head.fc.bias'] = torch.randn(4)
    torch.save({'state_dict': state, 'meta': {'mmdiverse': {'window_size': 4}}}, path)
    return backbone.state_dict()
