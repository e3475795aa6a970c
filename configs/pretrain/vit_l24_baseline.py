# ViT-L/16 (24 layers, 224 px) from timm's ImageNet-21K weights, fine-tuned on ImageNet-1K,
# regularizers off: the baseline of vit_l24_diverse.py. Recipe: this project's design, the
# 22K -> 1K fine-tuning of swin_l_baseline.py on mmpretrain's ViT-L (docs/fidelity.md; weights
# and the other deltas: docs/pretraining.md). 8 GPUs x 64 images = 512 total batch ("8xb64").
pretrained = 'checkpoints/vit_large_patch16_224_in21k_mmpretrain.pth'

_base_ = [
    'mmpretrain::vision_transformer/vit-large-p16_64xb64_in1k.py',
    './_base_/finetune_22k_recipe.py',
    './_base_/mmdiverse_runtime.py',
]

model = dict(
    backbone=dict(
        drop_rate=0.0,
        drop_path_rate=0.1,
        init_cfg=dict(_delete_=True, type='Pretrained', checkpoint=pretrained, prefix='backbone.'),
    ),
    head=dict(hidden_dim=None, loss=_base_.ft22k_head_loss),
    train_cfg=dict(augments=_base_.ft22k_augments),
)

data_preprocessor = dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5])
train_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        magnitude_std=0.5,
        hparams=dict(pad_val=[128, 128, 128], interpolation='bicubic'),
    ),
    dict(
        type='RandomErasing',
        erase_prob=0.25,
        mode='rand',
        min_area_ratio=0.02,
        max_area_ratio=1 / 3,
        fill_color=[127.5, 127.5, 127.5],
        fill_std=[127.5, 127.5, 127.5],
    ),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        pipeline=[
            dict(type='CheckedLoadImageFromFile'),
            *_base_.val_dataloader.dataset.pipeline[1:],
        ]
    )
)
test_dataloader = val_dataloader

optim_wrapper = _base_.ft22k_optim_wrapper
param_scheduler = _base_.ft22k_param_scheduler
train_cfg = _base_.ft22k_train_cfg
auto_scale_lr = _base_.ft22k_auto_scale_lr
default_hooks = dict(
    checkpoint=dict(type='SafeCheckpointHook'), export_meta=dict(type='ExportMetaHook')
)
custom_hooks = _base_.mmdiverse_hooks
