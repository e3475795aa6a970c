# UperNet + Swin-L on ADE20K: the Gong fork's recipe (github: ChengyueGongR/PatchVisionTransformer,
# swin-segmentation/configs/swin/upernet_swin_large_patch4_window12_512x512_160k_ade20k.py) for
# mmseg 1.x; every value, its source and the published mIoU: docs/fidelity.md. Backbone: the
# export of configs/pretrain/swin_l_diverse.py; --tta is the fork's --aug-test.
_base_ = [
    './_base_/models/upernet_swin_l.py',
    './_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/mmdiverse_runtime.py',
    './_base_/schedules/swin_adamw_160k.py',
]

pretrained = 'work_dirs/swin_l_diverse/backbone_export.pth'
data_preprocessor = dict(size=_base_.crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(drop_path_rate=0.3, init_cfg=dict(checkpoint=pretrained)),
    decode_head=dict(num_classes=150),
    auxiliary_head=dict(num_classes=150),
)
train_dataloader = dict(batch_size=2)
default_hooks = dict(visualization=dict(interval=1))
