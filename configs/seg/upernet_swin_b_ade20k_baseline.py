# Baseline for upernet_swin_b_ade20k.py: stock Swin-B (ImageNet-1K, 224 px,
# window 7, 83.4 top-1; mmpretrain model zoo). Same-recipe alternative:
#   --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/swin_b_baseline/backbone_export.pth
_base_ = './upernet_swin_b_ade20k.py'

pretrained = 'https://download.openmmlab.com/mmclassification/v0/swin-transformer/swin_base_224_b16x64_300e_imagenet_20210616_190742-93230b0d.pth'  # noqa: E501
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained)))
