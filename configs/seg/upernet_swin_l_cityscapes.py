# UperNet + Swin-L (window 12) on Cityscapes (19 classes): 1024x1024 crops, 80k
# iterations, 8 GPUs x 2 images; the Swin AdamW recipe of upernet_swin_l_ade20k.py
# with mmseg's Cityscapes 1024x1024 data pipeline and 80k schedule. Tested by
# sliding 1024x1024 windows (stride 768) over the 2048x1024 images; --tta runs
# multi-scale (0.5-1.75) + flip.
#
# Data: data/cityscapes (leftImg8bit/, gtFine/ with *_labelTrainIds.png made by
# tools/dataset_converters/cityscapes.py).
_base_ = [
    './_base_/models/upernet_swin_l.py',
    'mmseg::_base_/datasets/cityscapes_1024x1024.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/mmdiverse_runtime.py',
    './_base_/schedules/swin_adamw_80k.py',
]

# The backbone checkpoint: the transfer file configs/pretrain/swin_l_diverse.py exports.
pretrained = 'work_dirs/swin_l_diverse/backbone_export.pth'

crop_size = (1024, 1024)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(init_cfg=dict(checkpoint=pretrained)),
    decode_head=dict(num_classes=19),
    auxiliary_head=dict(num_classes=19),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(768, 768)),
)

# Strict loaders (mmdiverse.datasets.transforms), swapped into mmseg's pipelines
# by type name, other arguments kept: a truncated or unreadable image or label
# map, or a label outside 0..18 other than 255 (after reduce_zero_label),
# stops the run naming the file. (--tta uses mmseg's tta_pipeline as it is.)
strict_loaders = dict(
    LoadImageFromFile=dict(type='CheckedLoadImageFromFile'),
    LoadAnnotations=dict(type='CheckedLoadAnnotations', num_classes=19))

# 8 GPUs x 2 images per GPU
from mmdiverse.datasets.strict_pipelines import strict_pipeline  # noqa: E402

train_dataloader = dict(batch_size=2, dataset=dict(
    pipeline=strict_pipeline(_base_.train_dataloader.dataset.pipeline, strict_loaders)))
val_dataloader = dict(batch_size=1, dataset=dict(
    pipeline=strict_pipeline(_base_.val_dataloader.dataset.pipeline, strict_loaders)))
test_dataloader = val_dataloader

# tools/test.py --show-dir paints every test image (mmseg's hook: every 50th).
default_hooks = dict(visualization=dict(interval=1))
