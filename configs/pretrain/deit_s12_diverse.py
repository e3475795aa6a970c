# DeiT-S (12 layers) with the five patch-diversity terms, ImageNet-1K from scratch, DeiT recipe.
# Recipe: this project's design (docs/fidelity.md); baseline: deit_s12_baseline.py. Diverse-ViT's
# published run: diverse_vit/deit_s12.py. 8 GPUs x 128 images = 1024 total batch ("8xb128").
_base_ = ['./deit_s12_baseline.py', './_base_/diversity.py']

model = dict(
    type='DiverseImageClassifier',
    diversity=_base_.diversity_vit,
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), _base_.patch_cutmix_vit]),
)
