# Diverse-ViT's DeiT-S24 run, reproduced (Chen et al. 2022; github: VITA-Group/Diverse-ViT,
# script/run_deit_small_24layer_diverse.sh): this project's deit_s24_diverse.py with
# Diverse-ViT's objective and recipe (_base_/diverse_vit_recipe.py; docs/fidelity.md).
# 8 GPUs x 128 images = 1024 total batch ("8xb128"); lr 5e-4 x 1024 / 512 via auto_scale_lr.
_base_ = ['../deit_s24_diverse.py', './_base_/diverse_vit_recipe.py']

model = dict(diversity=_base_.dvit_diversity, train_cfg=dict(augments=_base_.dvit_augments))
optim_wrapper = _base_.dvit_optim_wrapper
param_scheduler = _base_.dvit_param_scheduler
custom_hooks = _base_.dvit_hooks
