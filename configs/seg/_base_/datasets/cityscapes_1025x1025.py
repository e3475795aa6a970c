# Cityscapes as the Gong fork's _base_/datasets/cityscapes_1025x1025.py has it, for mmseg 1.x:
# 1025 crops of a (2049, 1025) resize, whole-image test at (2049, 1025), CheckedLoadImageFromFile /
# CheckedLoadAnnotations (19 classes) in place of the stock loaders, and the fork's --aug-test as
# tta_pipeline: img_ratios of tta_scale, flip (docs/segmentation.md, docs/fidelity.md).
_base_ = 'mmseg::_base_/datasets/cityscapes.py'

crop_size = (1025, 1025)
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
    dataset=dict(
        pipeline=[
            dict(type='CheckedLoadImageFromFile'),
            dict(type='CheckedLoadAnnotations', num_classes=19),
            *train_pipeline[2:],
        ]
    )
)
val_dataloader = dict(
    dataset=dict(
        pipeline=[
            dict(type='CheckedLoadImageFromFile'),
            test_pipeline[1],
            dict(type='CheckedLoadAnnotations', num_classes=19),
            test_pipeline[3],
        ]
    )
)
test_dataloader = val_dataloader
