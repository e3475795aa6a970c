# ViT-L/16 (24 layers, width 1024, 16 heads, 224 px) initialised from
# ImageNet-22K (ImageNet-21K) and fine-tuned on ImageNet-1K, regularizers OFF:
# the baseline of vit_l24_diverse.py.
# Recipe: this project's design; no published run used it (docs/fidelity.md).
# 8 GPUs x 64 images = 512 total batch ("8xb64"); lr via auto_scale_lr (base 512).
#   tools/dist_train.sh configs/pretrain/vit_l24_baseline.py 8
#
# Pretrained weights: timm's `vit_large_patch16_224.augreg_in21k` state dict
# converted to mmpretrain's layout at the path below (README, "Checkpoint
# conversion"). Its head (21K classes) is not loaded (prefix='backbone.').
#
# Deltas from mmpretrain's ViT-L/16 224 px recipe (written for training from
# scratch): the fine-tuning schedule of swin_l_baseline.py (30 epochs, AdamW
# lr 2e-5 x batch / 512, 5 warm-up epochs, cosine to 2e-7, weight decay 1e-8),
# the 22K -> 1K augmentation (RandAugment, Mixup 0.8 + CutMix 1.0, random
# erasing, label smoothing 0.1), stochastic depth 0.1 instead of dropout, a
# linear head (no pre-logits layer), and the [-1, 1] input normalisation the
# 21K weights were trained with.
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
        init_cfg=dict(_delete_=True, type='Pretrained', checkpoint=pretrained,
                      prefix='backbone.')),
    head=dict(hidden_dim=None,
              loss=_base_.ft22k_head_loss),
    train_cfg=dict(augments=_base_.ft22k_augments),
)

data_preprocessor = dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5])
train_pipeline = [
    dict(type='CheckedLoadImageFromFile'),  # strict loading (see below)
    dict(type='RandomResizedCrop', scale=224, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandAugment', policies='timm_increasing', num_policies=2, total_level=10,
         magnitude_level=9, magnitude_std=0.5,
         hparams=dict(pad_val=[128, 128, 128], interpolation='bicubic')),
    dict(type='RandomErasing', erase_prob=0.25, mode='rand', min_area_ratio=0.02,
         max_area_ratio=1 / 3, fill_color=[127.5, 127.5, 127.5],
         fill_std=[127.5, 127.5, 127.5]),
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
