# deit_24l_baseline.py (ContraNorm's ImageNet-100 setting) with this project's five
# patch-diversity terms: this project's design (docs/in100.md, docs/fidelity.md); compare with
# the baseline and with ContraNorm's 81.28. 8 GPUs x 64 images = 512 total batch ("8xb64").
# Estimate: the baseline's 10-57 GPU-hours x the step cost (docs/in100.md), 1.2-7 h on 8 GPUs.
_base_ = ['./deit_24l_baseline.py', '../_base_/diversity.py']

model = dict(
    type='DiverseImageClassifier',
    diversity=_base_.diversity_vit,
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), _base_.patch_cutmix_vit]),
)
