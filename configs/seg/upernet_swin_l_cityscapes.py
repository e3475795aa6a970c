# UperNet + Swin-L on Cityscapes: the Gong fork's recipe (github: ChengyueGongR/
# PatchVisionTransformer, swin-segmentation/configs/swin/upernet_swin_large_patch4_window12_
# 1025x1025_80k_cityscapes.py) for mmseg 1.x, with Swin-L widths and 19 classes where the fork
# wrote otherwise; every value, its source and the published mIoU: docs/fidelity.md.
# Backbone: the export of configs/pretrain/swin_l_diverse.py; --tta is the fork's --aug-test.
_base_ = [
    './_base_/models/upernet_swin_l.py',
    'mmseg::_base_/datasets/cityscapes.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/mmdiverse_runtime.py',
    './_base_/schedules/swin_adamw_80k.py',
]

pretrained = 'work_dirs/swin_l_diverse/backbone_export.pth'
crop_size = (1025, 1025)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(drop_path_rate=0.5, init_cfg=dict(checkpoint=pretrained)),
    decode_head=dict(num_classes=19),
    auxiliary_head=dict(num_classes=19),
    test_cfg=dict(mode='whole'),
)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(2049, 1025), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2049, 1025), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
tta_scale = (2049, 1025)
tta_pipeline = [
    dict(type='CheckedLoadImageFromFile', backend_args=None),
    dict(
        type='TestTimeAug',
        transforms=[
            [
                dict(
                    type='Resize',
                    scale=(int(tta_scale[0] * r), int(tta_scale[1] * r)),
                    keep_ratio=True,
                )
                for r in img_ratios
            ],
            [
                dict(type='RandomFlip', prob=0.0, direction='horizontal'),
                dict(type='RandomFlip', prob=1.0, direction='horizontal'),
            ],
            [dict(type='CheckedLoadAnnotations', num_classes=19)],
            [dict(type='PackSegInputs')],
        ],
    ),
]

train_dataloader = dict(
    batch_size=1,
    dataset=dict(
        pipeline=[
            dict(type='CheckedLoadImageFromFile'),
            dict(type='CheckedLoadAnnotations', num_classes=19),
            *train_pipeline[2:],
        ]
    ),
)
val_dataloader = dict(
    batch_size=1,
    dataset=dict(
        pipeline=[
            dict(type='CheckedLoadImageFromFile'),
            test_pipeline[1],
            dict(type='CheckedLoadAnnotations', num_classes=19),
            test_pipeline[3],
        ]
    ),
)
test_dataloader = val_dataloader
default_hooks = dict(visualization=dict(interval=1))
