# UperNet + Swin-B on Cityscapes: the recipe of upernet_swin_l_cityscapes.py with the Swin-B
# backbone of configs/pretrain/swin_b_diverse.py (224 px, window 7). This project's design
# (docs/fidelity.md).
_base_ = './upernet_swin_l_cityscapes.py'

pretrained = 'work_dirs/swin_b_diverse/backbone_export.pth'
model = dict(
    backbone=dict(arch='base', img_size=224, window_size=7, init_cfg=dict(checkpoint=pretrained)),
    decode_head=dict(in_channels=[128, 256, 512, 1024]),
    auxiliary_head=dict(in_channels=512),
)
