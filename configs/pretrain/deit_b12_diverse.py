# DeiT-B (12 layers) with the patch-diversity regularizers, ImageNet-1K from
# scratch, DeiT recipe. Baseline: deit_b12_baseline.py.
# Recipe: this project's design; no published run used it (docs/fidelity.md).
# 8 GPUs x 128 images = 1024 total batch ("8xb128"); lr via auto_scale_lr.
#   tools/dist_train.sh configs/pretrain/deit_b12_diverse.py 8
_base_ = ['./deit_b12_baseline.py', './_base_/diversity.py']

model = dict(
    type='DiverseImageClassifier',
    diversity=_base_.diversity_vit,
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), _base_.patch_cutmix_vit]),
)
