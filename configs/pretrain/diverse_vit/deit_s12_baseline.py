# The baseline of deit_s12.py: Diverse-ViT's DeiT-S recipe with every
# coefficient 0 (main.py's defaults), i.e. the plain class-token CE on
# Diverse-ViT's batch mixing (mirror pairing, pixel CutMix boxes), AMP, no
# gradient clipping, raw model evaluated (docs/fidelity.md, "Diverse-ViT DeiT-S").
# PatchCutMix here is a plain pixel-box CutMix (the stock preprocessor uses its
# image-level targets only).
# 8 GPUs x 128 images = 1024 total batch ("8xb128"); lr via auto_scale_lr.
#   tools/dist_train.sh configs/pretrain/diverse_vit/deit_s12_baseline.py 8
# It inherits this project's configs/pretrain/deit_s12_baseline.py and differs
# from it only in the recipe keys of _base_/diverse_vit_recipe.py (tested).
_base_ = ['../deit_s12_baseline.py', './_base_/diverse_vit_recipe.py']

model = dict(train_cfg=dict(augments=_base_.dvit_augments))
optim_wrapper = _base_.dvit_optim_wrapper
param_scheduler = _base_.dvit_param_scheduler
custom_hooks = _base_.dvit_hooks
