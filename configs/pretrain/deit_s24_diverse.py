# DeiT-S24 (24 layers, width 384, 6 heads) with the patch-diversity
# regularizers, ImageNet-1K from scratch, DeiT recipe. Baseline: deit_s24_baseline.py.
# Recipe: this project's design (the five terms in this project's formulation);
# no published run used it, so no published number is given. Diverse-ViT's
# published DeiT-S24 run is diverse_vit/deit_s24.py; Gong et al.'s DeiT-S24
# recipe was not published (docs/fidelity.md).
# 8 GPUs x 128 images = 1024 total batch ("8xb128"); lr via auto_scale_lr.
#   tools/dist_train.sh configs/pretrain/deit_s24_diverse.py 8
_base_ = ['./deit_s24_baseline.py', './_base_/diversity.py']

model = dict(
    type='DiverseImageClassifier',
    diversity=_base_.diversity_vit,
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), _base_.patch_cutmix_vit]),
)
