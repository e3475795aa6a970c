# Baseline for upernet_simmim_swin_b_ade20k.py: mmpretrain's published SimMIM Swin-B, 100 epochs
# (model zoo: simmim_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px; docs/fidelity.md). Same-recipe
# alternative: --cfg-options model.backbone.init_cfg.checkpoint=<simmim_swin_b_baseline export>
_base_ = './upernet_simmim_swin_b_ade20k.py'

pretrained = 'https://download.openmmlab.com/mmselfsup/1.x/simmim/simmim_swin-base_8xb256-amp-coslr-100e_in1k-192/simmim_swin-base_8xb256-amp-coslr-100e_in1k-192_20220829-0e15782d.pth'  # noqa: E501
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained)))
