# ViT-L/16 (24 layers, 224 px) from timm's ImageNet-21K weights, fine-tuned on ImageNet-1K with
# the five patch-diversity terms. Recipe: this project's design; Gong et al.'s ViT-L24 recipe
# was not published (docs/fidelity.md). Baseline: vit_l24_baseline.py.
# 8 GPUs x 64 images = 512 total batch ("8xb64"); lr via auto_scale_lr.
pretrained = 'checkpoints/vit_large_patch16_224_in21k_mmpretrain.pth'

_base_ = ['./vit_l24_baseline.py', './_base_/diversity.py']

model = dict(
    type='DiverseImageClassifier',
    backbone=dict(init_cfg=dict(checkpoint=pretrained)),
    diversity=_base_.diversity_vit,
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), _base_.patch_cutmix_vit]),
)
