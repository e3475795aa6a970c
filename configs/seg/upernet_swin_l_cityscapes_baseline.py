# Baseline for upernet_swin_l_cityscapes.py: the same recipe from mmpretrain's stock Swin-L
# (ImageNet-22K -> 1K, 384 px, window 12). Same-recipe alternative: the export of
# configs/pretrain/swin_l_baseline.py (docs/segmentation.md; docs/fidelity.md).
_base_ = './upernet_swin_l_cityscapes.py'

pretrained = 'https://download.openmmlab.com/mmclassification/v0/swin-transformer/convert/swin_large_patch4_window12_384_22kto1k-0a40944b.pth'  # noqa: E501
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained)))
