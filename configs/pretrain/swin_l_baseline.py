# Swin-L (window 12, 384 px) initialised from ImageNet-22K and fine-tuned on
# ImageNet-1K, regularizers OFF: the baseline of swin_l_diverse.py.
# Recipe: this project's design; no published run used it (docs/fidelity.md).
# 8 GPUs x 64 images = 512 total batch ("8xb64"); lr via auto_scale_lr (base 512).
#   tools/dist_train.sh configs/pretrain/swin_l_baseline.py 8
#
# Pretrained weights: the 22K checkpoint converted to mmpretrain's layout at
# the path below (README, "Checkpoint conversion"):
#   python tools/convert_checkpoint.py swin_large_patch4_window12_384_22k.pth \
#       checkpoints/swin_large_patch4_window12_384_22k_mmpretrain.pth
#
# Schedule (_base_/finetune_22k_recipe.py): the Swin authors' 22K -> 1K fine-tuning
# (swin_large_patch4_window12_384_22kto1k_finetune): 30 epochs, AdamW, lr
# 2e-5 x batch / 512, 5 warm-up epochs from 2e-8, cosine to 2e-7, weight decay
# 1e-8, stochastic depth 0.2, with the Swin training augmentation (RandAugment,
# Mixup 0.8 + CutMix 1.0, random erasing 0.25, label smoothing 0.1).
# mmpretrain's swin-large_16xb64_in1k-384px.py (inherited) is an evaluation
# config, so its schedule and pipeline are overridden here.
# If 64 images do not fit on a GPU: add --amp, set
# model.backbone.with_cp=True, or lower the batch size (lr follows).
# The 22K head is not loaded (prefix='backbone.'): the 1K head starts fresh.
pretrained = 'checkpoints/swin_large_patch4_window12_384_22k_mmpretrain.pth'

_base_ = [
    'mmpretrain::swin_transformer/swin-large_16xb64_in1k-384px.py',
    './_base_/finetune_22k_recipe.py',
    './_base_/mmdiverse_runtime.py',
]

model = dict(
    backbone=dict(
        drop_path_rate=0.2,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    head=dict(loss=_base_.ft22k_head_loss),
    train_cfg=dict(augments=_base_.ft22k_augments),
)

bgr_mean = _base_.data_preprocessor['mean'][::-1]
bgr_std = _base_.data_preprocessor['std'][::-1]
train_pipeline = [
    dict(type='CheckedLoadImageFromFile'),  # strict loading (see below)
    dict(type='RandomResizedCrop', scale=384, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandAugment', policies='timm_increasing', num_policies=2, total_level=10,
         magnitude_level=9, magnitude_std=0.5,
         hparams=dict(pad_val=[round(x) for x in bgr_mean], interpolation='bicubic')),
    dict(type='RandomErasing', erase_prob=0.25, mode='rand', min_area_ratio=0.02,
         max_area_ratio=1 / 3, fill_color=bgr_mean, fill_std=bgr_std),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

optim_wrapper = _base_.ft22k_optim_wrapper
param_scheduler = _base_.ft22k_param_scheduler
train_cfg = _base_.ft22k_train_cfg
auto_scale_lr = _base_.ft22k_auto_scale_lr

default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook'),
                     export_meta=dict(type='ExportMetaHook'))

# Strict image loading and the mmdiverse hooks (_base_/mmdiverse_runtime.py).
from mmdiverse.datasets.strict_pipelines import strict_pipeline  # noqa: E402

val_dataloader = dict(dataset=dict(
    pipeline=strict_pipeline(_base_.val_dataloader.dataset.pipeline, _base_.strict_loaders)))
test_dataloader = val_dataloader   # the recipe tests as it validates
custom_hooks = _base_.mmdiverse_hooks
