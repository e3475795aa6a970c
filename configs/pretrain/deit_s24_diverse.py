# DeiT-S24 (24 layers, width 384, 6 heads) with the patch-diversity
# regularizers, ImageNet-1K from scratch, DeiT recipe (reported: 80.3 -> 82.2).
# Baseline: deit_s24_baseline.py.
# 8 GPUs x 128 images = 1024 total batch ("8xb128"); lr via auto_scale_lr.
#   tools/dist_train.sh configs/pretrain/deit_s24_diverse.py 8
_base_ = ['./deit_s24_baseline.py', './_base_/diversity.py']

model = dict(
    type='DiverseImageClassifier',
    diversity=_base_.diversity_vit,
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), _base_.patch_cutmix_vit]),
)
