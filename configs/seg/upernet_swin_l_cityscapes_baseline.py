# Baseline for upernet_swin_l_cityscapes.py: stock Swin-L (ImageNet-22K -> 1K,
# 384 px, window 12; mmpretrain model zoo). Same-recipe alternative:
#   --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/swin_l_baseline/backbone_export.pth
_base_ = './upernet_swin_l_cityscapes.py'

pretrained = 'https://download.openmmlab.com/mmclassification/v0/swin-transformer/convert/swin_large_patch4_window12_384_22kto1k-0a40944b.pth'  # noqa: E501
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained)))
