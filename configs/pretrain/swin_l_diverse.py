# Swin-L (window 12, 384 px) from the ImageNet-22K weights, fine-tuned on ImageNet-1K with the
# five patch-diversity terms. Recipe: this project's design; Gong et al. released a diverse
# Swin-L checkpoint but not its recipe (docs/fidelity.md). Baseline: swin_l_baseline.py.
# 8 GPUs x 64 images = 512 total batch ("8xb64"); lr via auto_scale_lr.
pretrained = 'checkpoints/swin_large_patch4_window12_384_22k_mmpretrain.pth'

_base_ = ['./swin_l_baseline.py', './_base_/diversity.py']

model = dict(
    type='DiverseImageClassifier',
    backbone=dict(init_cfg=dict(checkpoint=pretrained)),
    diversity=_base_.diversity_swin,
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), _base_.patch_cutmix_swin]),
)
