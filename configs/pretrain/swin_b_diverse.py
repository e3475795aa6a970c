# Swin-B (window 7, 224 px) with the five patch-diversity terms, ImageNet-1K from scratch, Swin
# recipe. Recipe: this project's design (docs/fidelity.md); baseline: swin_b_baseline.py.
# 8 GPUs x 128 images = 1024 total batch ("8xb128"); lr via auto_scale_lr.
_base_ = ['./swin_b_baseline.py', './_base_/diversity.py']

model = dict(
    type='DiverseImageClassifier',
    diversity=_base_.diversity_swin,
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), _base_.patch_cutmix_swin]),
)
