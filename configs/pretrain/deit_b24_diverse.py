# DeiT-B24 (24 layers) with the five patch-diversity terms, ImageNet-1K from scratch. Recipe:
# this project's design; Gong et al.'s DeiT-B24 recipe was not published (docs/fidelity.md).
# Baseline: deit_b24_baseline.py. 8 GPUs x 128 images = 1024 total batch ("8xb128").
_base_ = ['./deit_b24_baseline.py', './_base_/diversity.py']

model = dict(
    type='DiverseImageClassifier',
    diversity=_base_.diversity_vit,
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), _base_.patch_cutmix_vit]),
)
