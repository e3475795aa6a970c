# UperNet + Swin-L on Cityscapes: the Gong fork's recipe (github: ChengyueGongR/
# PatchVisionTransformer, swin-segmentation/configs/swin/upernet_swin_large_patch4_window12_
# 1025x1025_80k_cityscapes.py) for mmseg 1.x, with Swin-L widths and 19 classes where the fork
# wrote otherwise; every value, its source and the published mIoU: docs/fidelity.md.
# Backbone: the export of configs/pretrain/swin_l_diverse.py; --tta is the fork's --aug-test.
_base_ = [
    './_base_/models/upernet_swin_l.py',
    './_base_/datasets/cityscapes_1025x1025.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/mmdiverse_runtime.py',
    './_base_/schedules/swin_adamw_80k.py',
]

pretrained = 'work_dirs/swin_l_diverse/backbone_export.pth'
data_preprocessor = dict(size=_base_.crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(drop_path_rate=0.5, init_cfg=dict(checkpoint=pretrained)),
    decode_head=dict(num_classes=19),
    auxiliary_head=dict(num_classes=19),
    test_cfg=dict(mode='whole'),
)
train_dataloader = dict(batch_size=1)
default_hooks = dict(visualization=dict(interval=1))
