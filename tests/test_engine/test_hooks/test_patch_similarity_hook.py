"""PatchSimilarityHook (with LossWeightWarmupHook in one training run)."""

import glob
import json
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.registry import DefaultScope
from mmpretrain.registry import HOOKS, MODELS
from mmpretrain.structures import DataSample

import mmdiverse  # noqa: F401
from mmdiverse.engine import PatchSimilarityHook
from mmdiverse.models.losses import patch_cosine_similarity
from tests.helpers.configs import diversity_terms
from tests.helpers.tiny_classifier import LOSS_KEYS, VIT, classifier_cfg


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    """Build with mmpretrain's registries whatever scope other tests set."""
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
TERMS = diversity_terms()  # configs/pretrain/_base_/diversity.py


def batch(n=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return dict(
        inputs=torch.rand(n, 3, 32, 32, generator=gen),
        data_samples=[DataSample().set_gt_label(i % 4) for i in range(n)],
    )


def fake_runner(model, name):
    return SimpleNamespace(
        model=model, iter=0, train_dataloader=[0] * 10, message_hub=MessageHub.get_instance(name)
    )


@pytest.mark.parametrize(
    'model_type,diversity',
    [
        ('DiverseImageClassifier', TERMS),
        ('DiverseImageClassifier', None),
        ('ImageClassifier', None),
    ],
)
def test_patch_similarity_hook_logs_every_block(model_type, diversity):
    torch.manual_seed(0)
    model = MODELS.build(classifier_cfg(diversity, model_type)).eval()
    runner = fake_runner(model, f'sim-{model_type}-{diversity is None}')
    hook = HOOKS.build(dict(type='PatchSimilarityHook'))
    batches = [batch(3, 0), batch(2, 1)]
    hook.before_val_epoch(runner)
    for idx, data in enumerate(batches):
        hook.before_val_iter(runner, idx, data)
        model.val_step(data)
        hook.after_val_iter(runner, idx, data, None)
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    hook.after_val_epoch(runner, {})
    scalars = runner.message_hub.log_scalars
    keys = {f'val/patch_cos_sim/block_{i:02d}' for i in range(3)}
    keys.add('val/patch_cos_sim/last')
    assert keys <= set(scalars)
    # the image-weighted mean over both batches, from the final tokens
    model.backbone.out_type = 'raw'  # (B, 1 + N, C) after the final norm
    with torch.no_grad():
        sims = []
        for data in batches:
            tokens = model.backbone(model.data_preprocessor(data)['inputs'])[-1][:, 1:]
            sims.append(patch_cosine_similarity(tokens, reduction='none'))
    expected = torch.cat(sims).mean().item()
    assert scalars['val/patch_cos_sim/last'].current() == pytest.approx(expected, rel=1e-5)


def test_patch_similarity_hook_interval_and_max_batches():
    model = MODELS.build(classifier_cfg(TERMS)).eval()
    runner = fake_runner(model, 'sim-interval')
    hook = PatchSimilarityHook(interval=2, max_batches=1, absolute=False, prefix='sim')
    calls = []
    for epoch in range(2):
        hook.before_val_epoch(runner)
        for idx in range(2):
            data = batch(2, idx)
            hook.before_val_iter(runner, idx, data)
            calls.append(hook._stack is not None)
            model.val_step(data)
            hook.after_val_iter(runner, idx, data, None)
        hook.after_val_epoch(runner, {})
    assert calls == [True, False, False, False]
    assert 'val/sim/block_00' in runner.message_hub.log_scalars


@pytest.mark.slow
def test_runner_trains_with_diversity_and_logs_similarity(shapes_cls_root, tmp_path):
    from mmengine.config import Config
    from mmengine.runner import Runner

    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'demo', '_base_', 'shapes_cls.py'))
    cfg.merge_from_dict(
        dict(
            model=dict(
                type='DiverseImageClassifier',
                backbone=VIT,
                neck=None,
                head=dict(
                    type='VisionTransformerClsHead',
                    num_classes=4,
                    in_channels=32,
                    loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
                ),
                diversity=dict(TERMS, tap=dict(first_layer=0, attn_layers=(0,))),
                train_cfg=dict(
                    augments=[
                        dict(type='Mixup', alpha=0.8),
                        dict(type='PatchCutMix', alpha=1.0, patch_size=8),
                    ]
                ),
            ),
            work_dir=str(tmp_path),
            default_scope='mmpretrain',
            optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3)),
            train_cfg=dict(by_epoch=True, max_epochs=1, val_interval=1),
            val_cfg=dict(),
            test_cfg=dict(),
            default_hooks=dict(logger=dict(type='LoggerHook', interval=1)),
            custom_hooks=[
                dict(type='PatchSimilarityHook'),
                dict(type='LossWeightWarmupHook', warmup_iters=2),
            ],
            log_processor=dict(by_epoch=True),
            env_cfg=dict(dist_cfg=dict(backend='gloo')),
            randomness=dict(seed=0),
        )
    )
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = shapes_cls_root
        cfg[f'{split}_dataloader'].batch_size = 16
    runner = Runner.from_cfg(cfg)
    runner.train()
    scalars = glob.glob(osp.join(str(tmp_path), '*', 'vis_data', 'scalars.json'))
    assert scalars
    records = [json.loads(line) for line in open(scalars[0])]
    train_keys = set().union(*(r for r in records if 'loss' in r))
    for key in (*LOSS_KEYS, 'patch_cos_sim', 'diversity_scale'):
        assert key in train_keys, key
    val = [r for r in records if 'accuracy/top1' in r][-1]
    assert {'patch_cos_sim/block_00', 'patch_cos_sim/block_02', 'patch_cos_sim/last'} <= set(val)
