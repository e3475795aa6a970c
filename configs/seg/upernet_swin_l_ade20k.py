# UperNet + Swin-L on ADE20K: the Gong fork's recipe (github: ChengyueGongR/PatchVisionTransformer,
# swin-segmentation/configs/swin/upernet_swin_large_patch4_window12_512x512_160k_ade20k.py) for
# mmseg 1.x; every value, its source and the published mIoU: docs/fidelity.md. Backbone: the
# export of configs/pretrain/swin_l_diverse.py; --tta is the fork's --aug-test.
_base_ = [
    './_base_/models/upernet_swin_l.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/mmdiverse_runtime.py',
    './_base_/schedules/swin_adamw_160k.py',
]

pretrained = 'work_dirs/swin_l_diverse/backbone_export.pth'
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(drop_path_rate=0.3, init_cfg=dict(checkpoint=pretrained)),
    decode_head=dict(num_classes=150),
    auxiliary_head=dict(num_classes=150),
)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(2048, 1024), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
tta_scale = (2048, 512)
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
            [dict(type='CheckedLoadAnnotations', num_classes=150)],
            [dict(type='PackSegInputs')],
        ],
    ),
]

train_dataloader = dict(
    batch_size=2,
    dataset=dict(
        pipeline=[
            dict(type='CheckedLoadImageFromFile'),
            dict(type='CheckedLoadAnnotations', reduce_zero_label=True, num_classes=150),
            *train_pipeline[2:],
        ]
    ),
)
val_dataloader = dict(
    batch_size=1,
    dataset=dict(
        pipeline=[
            dict(type='CheckedLoadImageFromFile'),
            dict(type='Resize', scale=(2048, 512), keep_ratio=True),
            dict(type='CheckedLoadAnnotations', reduce_zero_label=True, num_classes=150),
            dict(type='PackSegInputs'),
        ]
    ),
)
test_dataloader = val_dataloader
default_hooks = dict(visualization=dict(interval=1))
