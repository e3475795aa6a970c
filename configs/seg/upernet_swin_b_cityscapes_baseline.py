# Baseline for upernet_swin_b_cityscapes.py: the same recipe from mmpretrain's stock Swin-B
# (ImageNet-1K, 224 px, window 7). Same-recipe alternative: the export of
# configs/pretrain/swin_b_baseline.py (docs/segmentation.md; docs/fidelity.md).
_base_ = './upernet_swin_b_cityscapes.py'

pretrained = 'https://download.openmmlab.com/mmclassification/v0/swin-transformer/swin_base_224_b16x64_300e_imagenet_20210616_190742-93230b0d.pth'  # noqa: E501
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained)))
