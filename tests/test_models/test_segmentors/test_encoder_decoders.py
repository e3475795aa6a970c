"""TransferEncoderDecoder (strict backbone transfer) and DiverseEncoderDecoder."""
import copy
import logging
import os.path as osp

import pytest
import torch
from mmengine.config import Config

import mmdiverse  # noqa: F401  (registers the segmentors and losses)
from mmdiverse.checkpoint import BackboneLoadError
from mmdiverse.models.classifiers import DIAG_KEY, TERMS, loss_key
from tests.conftest import REPO_ROOT

TINY_SWIN = dict(embed_dims=32, depths=[2, 2, 2, 2], num_heads=[2, 2, 2, 2])
SEG_TERMS = [t for t in TERMS if t != 'patch_mix']


def _seg_cfg(name='upernet_swin_l_ade20k.py', checkpoint=None, **model_overrides):
    """The model of a configs/seg config, shrunk to a tiny Swin at 64 px."""
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'seg', name)).model
    cfg.backbone.update(arch=copy.deepcopy(TINY_SWIN), img_size=64, window_size=4,
                        drop_path_rate=0.)
    if checkpoint is None:
        cfg.backbone.init_cfg = None
    else:
        cfg.backbone.init_cfg.checkpoint = checkpoint
    cfg.decode_head.update(in_channels=[32, 64, 128, 256], channels=16, num_classes=4)
    cfg.auxiliary_head.update(in_channels=128, channels=16, num_classes=4)
    cfg.data_preprocessor.size = (64, 64)
    cfg.update(model_overrides)
    return cfg


def _build(cfg):
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    return revert_sync_batchnorm(MODELS.build(cfg))


def _batch(model, n=2, size=64, classes=4, seed=0):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    gen = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for _ in range(n):
        inputs.append(torch.randint(0, 256, (3, size, size), generator=gen, dtype=torch.uint8))
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=torch.randint(0, classes, (1, size, size),
                                                         generator=gen))
        sample.set_metainfo(dict(img_shape=(size, size), ori_shape=(size, size),
                                 pad_shape=(size, size)))
        samples.append(sample)
    return model.data_preprocessor(dict(inputs=inputs, data_samples=samples), True)


def _pretrained_swin_checkpoint(path, drop=()):
    from mmpretrain.models import SwinTransformer
    backbone = SwinTransformer(arch=copy.deepcopy(TINY_SWIN), img_size=32, window_size=4,
                               pad_small_map=True)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for param in backbone.parameters():
            param.copy_(torch.randn(param.shape, generator=gen))
    state = {f'backbone.{k}': v for k, v in backbone.state_dict().items() if k not in drop}
    state['head.fc.weight'] = torch.randn(4, 256)
    state['head.fc.bias'] = torch.randn(4)
    torch.save({'state_dict': state, 'meta': {'mmdiverse': {'window_size': 4}}}, path)
    return backbone.state_dict()


def test_pretrained_backbone_is_loaded_strictly_by_init_weights(tmp_path, caplog):
    path = str(tmp_path / 'cls.pth')
    source = _pretrained_swin_checkpoint(path)
    model = _build(_seg_cfg(checkpoint=path))
    assert model.backbone.init_cfg is None             # taken over from mmengine
    assert model.backbone_pretrained['checkpoint'] == path
    model.init_weights()
    target = model.backbone.state_dict()
    for key, value in source.items():
        if not key.endswith('relative_position_index'):
            assert torch.equal(target[key], value), key
    report = model.transfer_report
    assert len(report.loaded) == len(source) - 8         # 8 index buffers are rebuilt
    assert sorted(report.new) == sorted(f'norm{i}.{p}' for i in range(3)
                                        for p in ('weight', 'bias'))
    model.init_weights()                                 # a second call does not reload
    assert model.transfer_report is report


def test_missing_backbone_key_stops_init_weights(tmp_path):
    path = str(tmp_path / 'broken.pth')
    _pretrained_swin_checkpoint(path, drop=('stages.3.blocks.0.norm1.weight', ))
    model = _build(_seg_cfg(checkpoint=path))
    with pytest.raises(BackboneLoadError, match=r'stages\.3\.blocks\.0\.norm1\.weight'):
        model.init_weights()


def test_without_a_pretrained_entry_the_backbone_stays_random(caplog):
    model = _build(_seg_cfg())
    assert model.backbone_pretrained is None
    with caplog.at_level(logging.WARNING):
        model.init_weights()
    assert model.transfer_report is None


def test_unknown_transfer_option_is_rejected():
    with pytest.raises(ValueError, match='backbone_transfer: unknown keys'):
        _build(_seg_cfg(backbone_transfer=dict(new_key=['x'])))


def _diverse_cfg(**diversity):
    cfg = _seg_cfg('upernet_swin_l_ade20k_diverse_ft.py')
    if diversity:
        cfg.diversity = diversity
    return cfg


def test_diverse_ft_config_uses_the_pretraining_terms():
    seg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'seg',
                                   'upernet_swin_l_ade20k_diverse_ft.py'))
    pre = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'pretrain', 'swin_l_diverse.py'))
    assert seg.model.type == 'DiverseEncoderDecoder'
    assert set(seg.model.diversity) == set(pre.model.diversity) - {'patch_mix'}
    for term, loss in seg.model.diversity.items():
        assert loss.to_dict() == pre.model.diversity[term].to_dict(), term


def test_diverse_segmentor_adds_the_pretraining_loss_keys():
    torch.manual_seed(0)
    model = _build(_diverse_cfg())
    model.train()
    losses = model(**_batch(model), mode='loss')
    expected = {loss_key(t) for t in SEG_TERMS} | {DIAG_KEY}
    assert expected <= set(losses)
    assert {'decode.loss_ce', 'aux.loss_ce'} <= set(losses)
    for key in expected:
        assert torch.isfinite(losses[key]) and losses[key].dim() == 0, key
    # The same keys as the pretraining classifier with the same terms.
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS as PRETRAIN_MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        classifier = PRETRAIN_MODELS.build(dict(
            type='DiverseImageClassifier',
            backbone=dict(type='SwinTransformer', arch=copy.deepcopy(TINY_SWIN), img_size=64,
                          window_size=4, pad_small_map=True),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=4, in_channels=256),
            diversity=copy.deepcopy(model.diversity_cfg)))
    from mmpretrain.structures import DataSample
    samples = [DataSample().set_gt_label(i % 4) for i in range(2)]
    cls_losses = classifier.loss(torch.randn(2, 3, 64, 64), samples)
    assert {k for k in cls_losses if k != 'loss'} == expected


def test_diversity_terms_train_the_segmentation_backbone():
    model = _build(_diverse_cfg(patch_cos=dict(type='PatchCosineLoss', loss_weight=1.0)))
    model.train()
    losses = model(**_batch(model), mode='loss')
    losses['loss_patch_cos'].backward()
    grads = [p.grad for p in model.backbone.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)
    assert all(p.grad is None for p in model.decode_head.parameters())


def test_inference_is_the_stock_forward():
    diverse = _build(_diverse_cfg())
    diverse.train()
    diverse(**_batch(diverse), mode='loss')        # hooks installed and removed again
    plain = _build(_seg_cfg())
    missing, unexpected = plain.load_state_dict(diverse.state_dict(), strict=False)
    assert not missing and all(k.startswith('diversity.') for k in unexpected)
    for module in diverse.backbone.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks
    diverse.eval(), plain.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(diverse(x, mode='tensor'), plain(x, mode='tensor'))


def test_patch_mixing_is_refused_in_segmentation():
    with pytest.raises(ValueError, match='patch_mix is not supported'):
        _build(_diverse_cfg(patch_mix=dict(type='PatchMixingLoss')))


def test_vit_segmentor_with_diversity():
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'seg', 'upernet_deit_s12_ade20k.py'))
    model_cfg = cfg.model
    model_cfg.type = 'DiverseEncoderDecoder'
    model_cfg.backbone.update(arch=dict(embed_dims=32, num_layers=4, num_heads=2,
                                        feedforward_channels=64),
                              img_size=64, out_indices=[0, 1, 2, 3], init_cfg=None)
    model_cfg.neck.update(in_channels=[32] * 4, out_channels=32)
    model_cfg.decode_head.update(in_channels=[32] * 4, channels=16, num_classes=4)
    model_cfg.auxiliary_head.update(in_channels=32, channels=16, num_classes=4)
    model_cfg.data_preprocessor.size = (64, 64)
    model_cfg.diversity = dict(
        tap=dict(first_layer=0, attn_layers=(0, )),
        patch_cos=dict(type='PatchCosineLoss', loss_weight=0.5),
        patch_contrast=dict(type='mmpretrain.PatchContrastiveLoss', loss_weight=0.5),
        attn_div=dict(type='AttentionDiversityLoss', loss_weight=1e-4),
        weight_cond=dict(type='WeightConditionLoss', loss_weight=5e-4))
    model = _build(model_cfg)
    model.train()
    losses = model(**_batch(model), mode='loss')
    assert {loss_key(t) for t in SEG_TERMS} <= set(losses)
    assert 0 < float(losses[DIAG_KEY]) <= 1
