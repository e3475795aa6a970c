# Baseline for upernet_mae_vit_b_ade20k.py: mmpretrain's published MAE ViT-B, 1600 epochs (model
# zoo: mae_vit-base-p16_8xb512-amp-coslr-1600e_in1k; docs/fidelity.md). Same-recipe alternative:
# model.backbone.init_cfg.checkpoint=work_dirs/mae_vit_b_baseline/backbone_export.pth
_base_ = './upernet_mae_vit_b_ade20k.py'

pretrained = 'https://download.openmmlab.com/mmselfsup/1.x/mae/mae_vit-base-p16_8xb512-fp16-coslr-1600e_in1k/mae_vit-base-p16_8xb512-fp16-coslr-1600e_in1k_20220825-f7569ca2.pth'  # noqa: E501
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained)))
