# DeiT-S (12 layers) with the patch-diversity regularizers, ImageNet-1K from
# scratch, DeiT recipe. Baseline: deit_s12_baseline.py (identical otherwise).
# Recipe: this project's design (the five terms in this project's formulation on
# the DeiT recipe); no published run used it, so no published number is given.
# Diverse-ViT's published DeiT-S run is diverse_vit/deit_s12.py, which inherits
# this file and switches to its objective and recipe (docs/fidelity.md).
# 8 GPUs x 128 images = 1024 total batch ("8xb128"); lr via auto_scale_lr.
#   tools/dist_train.sh configs/pretrain/deit_s12_diverse.py 8
# Coefficients (mixing 1, cosine 0.5, contrastive 0.5, attention 1e-4,
# weight 5e-4): configs/pretrain/_base_/diversity.py.
_base_ = ['./deit_s12_baseline.py', './_base_/diversity.py']

model = dict(
    type='DiverseImageClassifier',
    diversity=_base_.diversity_vit,
    # The recipe's CutMix becomes the patch-aligned PatchCutMix (16 px tokens),
    # which the mixing term needs; Mixup is kept.
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), _base_.patch_cutmix_vit]),
)
