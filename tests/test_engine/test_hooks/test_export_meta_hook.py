"""ExportMetaHook: checkpoint metadata and the transfer file written after training."""

from types import SimpleNamespace

import torch
from mmengine.config import Config
from mmengine.logging import MessageHub, MMLogger
from mmengine.registry import DefaultScope

import mmdiverse  # noqa: F401
from mmdiverse.checkpoint import safe_load
from mmdiverse.engine.hooks import ExportMetaHook

MODEL = dict(
    type='DiverseImageClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch=dict(embed_dims=16, num_layers=2, num_heads=2, feedforward_channels=16),
        img_size=16,
        patch_size=8,
    ),
    neck=None,
    head=dict(type='VisionTransformerClsHead', num_classes=2, in_channels=16),
    diversity=dict(patch_cos=dict(type='PatchCosineLoss', loss_weight=0.5)),
)


def _runner(tmp_path):
    from mmpretrain.registry import MODELS

    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(MODEL)
    config = tmp_path / 'demo.py'
    config.write_text(f'model = {MODEL!r}\n')
    return SimpleNamespace(
        model=model,
        cfg=Config.fromfile(str(config)),
        work_dir=str(tmp_path),
        experiment_name='exp',
        message_hub=MessageHub.get_instance('export-meta-hook'),
        logger=MMLogger.get_instance('export-meta-hook'),
    )


def test_every_checkpoint_says_what_it_holds_and_training_ends_with_an_export(tmp_path):
    runner, hook = _runner(tmp_path), ExportMetaHook(keep_head=False)
    hook.before_train(runner)
    checkpoint = {'state_dict': runner.model.state_dict(), 'meta': {}}
    hook.before_save_checkpoint(runner, checkpoint)
    meta = checkpoint['meta']['mmdiverse']
    assert meta['backbone'] == 'VisionTransformer' and meta['patch_size'] == 8
    assert meta['img_size'] == 16
    assert meta['regularizers'] == ['patch_cos'] and meta['loss_weights'] == {'patch_cos': 0.5}
    assert meta['config'] == 'demo.py'

    path = str(tmp_path / 'epoch_1.pth')
    torch.save(checkpoint, path)
    runner.message_hub.update_info('last_ckpt', path)
    hook.after_train(runner)
    exported = safe_load(hook.exported)
    assert exported['meta']['mmdiverse']['regularizers'] == ['patch_cos']
    keys = set(exported['state_dict'])
    assert keys and all(key.startswith('backbone.') for key in keys)  # keep_head=False
    torch.testing.assert_close(
        exported['state_dict']['backbone.pos_embed'], runner.model.backbone.pos_embed.detach()
    )


def test_without_a_checkpoint_nothing_is_exported(tmp_path):
    runner, hook = _runner(tmp_path), ExportMetaHook()
    runner.message_hub = MessageHub.get_instance('export-meta-hook-empty')
    hook.after_train(runner)
    assert hook.exported is None and not list(tmp_path.glob('*.pth'))
