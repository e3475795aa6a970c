# Swin-L (window 12, 384 px) from the ImageNet-22K weights, fine-tuned on ImageNet-1K,
# regularizers off: the baseline of swin_l_diverse.py. Recipe: this project's design on the Swin
# authors' 22K -> 1K fine-tuning (docs/fidelity.md; weights: docs/pretraining.md).
# 8 GPUs x 64 images = 512 total batch ("8xb64"); lr via auto_scale_lr.
pretrained = 'checkpoints/swin_large_patch4_window12_384_22k_mmpretrain.pth'

_base_ = [
    'mmpretrain::swin_transformer/swin-large_16xb64_in1k-384px.py',
    './_base_/finetune_22k_recipe.py',
    './_base_/mmdiverse_runtime.py',
]

model = dict(
    backbone=dict(
        drop_path_rate=0.2,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.'),
    ),
    head=dict(loss=_base_.ft22k_head_loss),
    train_cfg=dict(augments=_base_.ft22k_augments),
)

bgr_mean = _base_.data_preprocessor['mean'][::-1]
bgr_std = _base_.data_preprocessor['std'][::-1]
train_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=384, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        magnitude_std=0.5,
        hparams=dict(pad_val=[round(x) for x in bgr_mean], interpolation='bicubic'),
    ),
    dict(
        type='RandomErasing',
        erase_prob=0.25,
        mode='rand',
        min_area_ratio=0.02,
        max_area_ratio=1 / 3,
        fill_color=bgr_mean,
        fill_std=bgr_std,
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
