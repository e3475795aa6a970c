# Synthetic shape classification (mmdiverse.datasets.make_classification_set) in the ImageNet
# folder layout, read by mmpretrain's CustomDataset. This project's design (docs/demo.md).
# num_workers=0 with persistent_workers=False, which mmpretrain's tools/train.py defaults to True.
dataset_type = 'CustomDataset'
data_root = 'data/demo/shapes_cls'
num_classes = 4
img_size = 32

data_preprocessor = dict(
    num_classes=num_classes,
    mean=[127.5, 127.5, 127.5],
    std=[63.75, 63.75, 63.75],
    to_rgb=True,
)

train_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='meta/train.txt',
        data_prefix='train',
        pipeline=train_pipeline,
    ),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=64,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='meta/val.txt',
        data_prefix='val',
        pipeline=test_pipeline,
    ),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1,))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
