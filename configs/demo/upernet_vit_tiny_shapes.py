# UperNet on the demo ViT (vit_tiny_shapes*.py) for the synthetic shape segmentation set: the
# CPU-sized twin of configs/seg/upernet_deit_s12_ade20k.py (multi-level neck, strict transfer,
# position embedding 8x8 -> 16x16). This project's design (docs/demo.md, docs/fidelity.md).
# The pretrained checkpoint: --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = [
    './_base_/shapes_seg.py',
    'mmseg::_base_/default_runtime.py',
    '../seg/_base_/mmdiverse_runtime.py',
]

pretrained = 'work_dirs/demo/pretrain_diverse/epoch_30.pth'
norm_cfg = dict(type='BN', requires_grad=True)

model = dict(
    type='TransferEncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        mean=[127.5] * 3,
        std=[63.75] * 3,
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255,
        size={{_base_.crop_size}},
    ),
    backbone=dict(
        type='mmpretrain.VisionTransformer',
        arch=dict(embed_dims=64, num_layers=4, num_heads=4, feedforward_channels=128),
        img_size=64,
        patch_size=4,
        out_indices=[0, 1, 2, 3],
        final_norm=True,
        out_type='featmap',
        with_cls_token=True,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.'),
    ),
    neck=dict(
        type='MultiLevelNeck', in_channels=[64] * 4, out_channels=64, scales=[2, 1, 0.5, 0.25]
    ),
    decode_head=dict(
        type='UPerHead',
        in_channels=[64] * 4,
        in_index=[0, 1, 2, 3],
        pool_scales=(1, 2, 4),
        channels=64,
        dropout_ratio=0.1,
        num_classes=4,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
    ),
    auxiliary_head=dict(
        type='FCNHead',
        in_channels=64,
        in_index=2,
        channels=32,
        num_convs=1,
        concat_input=False,
        dropout_ratio=0.1,
        num_classes=4,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4),
    ),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'),
)

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(
        custom_keys={
            'pos_embed': dict(decay_mult=0.0),
            'cls_token': dict(decay_mult=0.0),
            'ln': dict(decay_mult=0.0),
        }
    ),
)
max_iters = 500
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=False, begin=0, end=50),
    dict(type='PolyLR', eta_min=0.0, power=1.0, by_epoch=False, begin=50, end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='SafeCheckpointHook', by_epoch=False, interval=max_iters, max_keep_ckpts=1
    ),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'),
)
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0, deterministic=True)
