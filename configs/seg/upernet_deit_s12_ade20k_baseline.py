# Baseline for upernet_deit_s12_ade20k.py: stock DeiT-S (ImageNet-1K, 224 px,
# mmpretrain model zoo, no diversity regularizers). Same-recipe alternative:
#   --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/deit_s12_baseline/backbone_export.pth
_base_ = './upernet_deit_s12_ade20k.py'

pretrained = 'https://download.openmmlab.com/mmclassification/v0/deit/deit-small_pt-4xb256_in1k_20220218-9425b9bb.pth'  # noqa: E501
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained)))
