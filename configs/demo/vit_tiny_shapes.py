# Demo baseline: a tiny ViT (4 blocks, width 64, 4x4 patches -> 8x8 tokens) on the synthetic
# shapes with a DeiT-style recipe, regularizers off: the CPU-sized twin of
# configs/pretrain/deit_s12_baseline.py. This project's design (docs/demo.md, docs/fidelity.md).
_base_ = [
    './_base_/shapes_cls.py',
    'mmpretrain::_base_/default_runtime.py',
    '../pretrain/_base_/mmdiverse_runtime.py',
]

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch=dict(embed_dims=64, num_layers=4, num_heads=4, feedforward_channels=128),
        img_size=32,
        patch_size=4,
        drop_path_rate=0.0,
    ),
    neck=None,
    head=dict(
        type='VisionTransformerClsHead',
        num_classes={{_base_.num_classes}},
        in_channels=64,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
    ),
    train_cfg=dict(augments=[dict(type='CutMix', alpha=1.0)]),
)

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={'.cls_token': dict(decay_mult=0.0), '.pos_embed': dict(decay_mult=0.0)},
    ),
    clip_grad=dict(max_norm=5.0),
)
# Warm-up overlapping a whole-run cosine, so max_epochs=1 is valid (docs/demo.md).
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1, convert_to_iter_based=True
    ),
    dict(
        type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=0, convert_to_iter_based=True
    ),
]
train_cfg = dict(by_epoch=True, max_epochs=10, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=32)

default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(type='SafeCheckpointHook', interval=1, max_keep_ckpts=2, save_last=True),
)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0, deterministic=True)
custom_hooks = _base_.mmdiverse_hooks
