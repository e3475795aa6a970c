"""DiverseEncoderDecoder: the pretraining terms on the segmentation backbone,
added to mmseg's own losses."""

import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmdiverse.models.diversity import DIAG_KEY, SEGMENTATION_TERMS, loss_key
from tests.helpers.tiny_segmentors import TINY_SWIN, batch, build, seg_cfg
from tests.helpers.tools import REPO_ROOT

SEG_TERMS = SEGMENTATION_TERMS


def _diverse_cfg(**diversity):
    cfg = seg_cfg('upernet_swin_l_ade20k_diverse_ft.py')
    if diversity:
        cfg.diversity = diversity
    return cfg


def test_diverse_ft_config_uses_the_pretraining_terms():
    seg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', 'seg', 'upernet_swin_l_ade20k_diverse_ft.py')
    )
    pre = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'pretrain', 'swin_l_diverse.py'))
    assert seg.model.type == 'DiverseEncoderDecoder'
    assert set(seg.model.diversity) == set(pre.model.diversity) - {'patch_mix'}
    for term, loss in seg.model.diversity.items():
        assert loss.to_dict() == pre.model.diversity[term].to_dict(), term


def test_diverse_segmentor_adds_the_pretraining_loss_keys():
    torch.manual_seed(0)
    model = build(_diverse_cfg())
    model.train()
    losses = model(**batch(model), mode='loss')
    expected = {loss_key(t) for t in SEG_TERMS} | {DIAG_KEY}
    assert expected <= set(losses)
    assert {'decode.loss_ce', 'aux.loss_ce'} <= set(losses)
    for key in expected:
        assert torch.isfinite(losses[key]) and losses[key].dim() == 0, key
    # The same keys as the pretraining classifier with the same terms.
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS as PRETRAIN_MODELS

    with DefaultScope.overwrite_default_scope('mmpretrain'):
        classifier = PRETRAIN_MODELS.build(
            dict(
                type='DiverseImageClassifier',
                backbone=dict(
                    type='SwinTransformer',
                    arch=copy.deepcopy(TINY_SWIN),
                    img_size=64,
                    window_size=4,
                    pad_small_map=True,
                ),
                neck=dict(type='GlobalAveragePooling'),
                head=dict(type='LinearClsHead', num_classes=4, in_channels=256),
                diversity=copy.deepcopy(model.diversity_cfg),
            )
        )
    from mmpretrain.structures import DataSample

    samples = [DataSample().set_gt_label(i % 4) for i in range(2)]
    cls_losses = classifier.loss(torch.randn(2, 3, 64, 64), samples)
    assert {k for k in cls_losses if k != 'loss_cls'} == expected


def test_mmseg_losses_are_the_stock_ones():
    """loss() is mmseg's own loss inside the capture, plus the terms."""
    diverse = build(_diverse_cfg())
    plain = build(seg_cfg())
    plain.load_state_dict(diverse.state_dict(), strict=False)
    diverse.train(), plain.train()
    data = batch(diverse)
    torch.manual_seed(0)
    ours = diverse(**data, mode='loss')
    torch.manual_seed(0)
    stock = plain(**data, mode='loss')
    assert set(ours) == set(stock) | {loss_key(t) for t in SEG_TERMS} | {DIAG_KEY}
    for key, value in stock.items():
        torch.testing.assert_close(ours[key], value, rtol=1e-4, atol=1e-5)


def test_diversity_terms_train_the_segmentation_backbone():
    model = build(_diverse_cfg(patch_cos=dict(type='PatchCosineLoss', loss_weight=1.0)))
    model.train()
    losses = model(**batch(model), mode='loss')
    losses['loss_patch_cos'].backward()
    grads = [p.grad for p in model.backbone.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)
    assert all(p.grad is None for p in model.decode_head.parameters())


def test_inference_is_the_stock_forward():
    diverse = build(_diverse_cfg())
    diverse.train()
    diverse(**batch(diverse), mode='loss')  # hooks installed and removed again
    plain = build(seg_cfg())
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
        build(_diverse_cfg(patch_mix=dict(type='PatchMixingLoss')))


def test_vit_segmentor_with_diversity():
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'seg', 'upernet_deit_s12_ade20k.py'))
    model_cfg = cfg.model
    model_cfg.type = 'DiverseEncoderDecoder'
    model_cfg.backbone.update(
        arch=dict(embed_dims=32, num_layers=4, num_heads=2, feedforward_channels=64),
        img_size=64,
        out_indices=[0, 1, 2, 3],
        init_cfg=None,
    )
    model_cfg.neck.update(in_channels=[32] * 4, out_channels=32)
    model_cfg.decode_head.update(in_channels=[32] * 4, channels=16, num_classes=4)
    model_cfg.auxiliary_head.update(in_channels=32, channels=16, num_classes=4)
    model_cfg.data_preprocessor.size = (64, 64)
    model_cfg.diversity = dict(
        tap=dict(first_layer=0, attn_layers=(0,)),
        patch_cos=dict(type='PatchCosineLoss', loss_weight=0.5),
        patch_contrast=dict(type='mmpretrain.PatchContrastiveLoss', loss_weight=0.5),
        attn_div=dict(type='AttentionDiversityLoss', loss_weight=1e-4),
        weight_cond=dict(type='WeightConditionLoss', loss_weight=5e-4),
    )
    model = build(model_cfg)
    model.train()
    losses = model(**batch(model), mode='loss')
    assert {loss_key(t) for t in SEG_TERMS} <= set(losses)
    assert 0 < float(losses[DIAG_KEY]) <= 1
