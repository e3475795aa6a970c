# Baseline for upernet_deit_s12_ade20k.py: the same recipe from mmpretrain's stock DeiT-S
# (ImageNet-1K, 224 px). Same-recipe alternative: the export of
# configs/pretrain/deit_s12_baseline.py (docs/segmentation.md; docs/fidelity.md).
_base_ = './upernet_deit_s12_ade20k.py'

pretrained = 'https://download.openmmlab.com/mmclassification/v0/deit/deit-small_pt-4xb256_in1k_20220218-9425b9bb.pth'  # noqa: E501
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained)))
