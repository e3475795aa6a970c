# The baseline of deit_s24.py: Diverse-ViT's DeiT-S24 recipe (github: VITA-Group/Diverse-ViT)
# with every coefficient 0, i.e. the class-token CE on its batch mixing, AMP, no clipping, the
# raw model evaluated (docs/fidelity.md, "Diverse-ViT DeiT-S").
# 8 GPUs x 128 images = 1024 total batch ("8xb128"); lr via auto_scale_lr.
_base_ = ['../deit_s24_baseline.py', './_base_/diverse_vit_recipe.py']

model = dict(train_cfg=dict(augments=_base_.dvit_augments))
optim_wrapper = _base_.dvit_optim_wrapper
param_scheduler = _base_.dvit_param_scheduler
custom_hooks = _base_.dvit_hooks
