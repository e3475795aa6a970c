# UperNet + Swin-L (window 12) on Cityscapes: the recipe of the segmentation
# fork of Gong et al. (github: ChengyueGongR/PatchVisionTransformer,
# swin-segmentation/configs/swin/upernet_swin_large_patch4_window12_1025x1025_
# 80k_cityscapes.py, mmseg 0.11), written for mmseg 1.x (docs/fidelity.md,
# "Segmentation"):
#   train   Resize img_scale (2049, 1025), ratio 0.5-2.0; RandomCrop 1025x1025,
#           cat_max_ratio 0.75; flip 0.5; PhotoMetricDistortion; 80k iterations
#           at 8 GPUs x 1 image; drop path 0.5;
#   optim   the AdamW + warm-up + poly schedule of upernet_swin_l_ade20k.py
#           over 80k (_base_/schedules/swin_adamw_80k.py);
#   test    whole image resized to (2049, 1025) (no sliding window); --tta:
#           the fork's --aug-test, scales 0.5-1.75 of (2049, 1025) + flip.
# Two deliberate differences from that file: it builds Swin-B widths
# (embed_dim 128, heads 4-32) under its Swin-L name and num_classes=20. Here the
# backbone is Swin-L (embed 192, heads 6-48: the widths of the released
# Swin-L checkpoint) and the heads have Cityscapes' 19 train classes (255 is
# ignored).
# Published (the fork's README; its UperNet checkpoint): 82.9 mIoU single
# scale, 83.9 ms+flip (Gong et al. 2021, arXiv v1: 83.6), fine-tuned from the
# fork's released Swin-L; the default backbone here is the export of
# configs/pretrain/swin_l_diverse.py, this project's pretraining design, so
# those numbers are the target of this recipe, not a result of it.
# The published run itself: --cfg-options model.backbone.init_cfg.checkpoint=
# <the fork's released Swin-L file> (Microsoft Swin keys, converted on the fly).
#
#   tools/dist_train.sh configs/seg/upernet_swin_l_cityscapes.py 8
#   tools/dist_test.sh configs/seg/upernet_swin_l_cityscapes.py CKPT 8 --tta
#
# Data: data/cityscapes (leftImg8bit/, gtFine/ with *_labelTrainIds.png made by
# tools/dataset_converters/cityscapes.py).
_base_ = [
    './_base_/models/upernet_swin_l.py',
    'mmseg::_base_/datasets/cityscapes.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/mmdiverse_runtime.py',
    './_base_/schedules/swin_adamw_80k.py',
]

# The backbone checkpoint: the transfer file configs/pretrain/swin_l_diverse.py exports.
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

# The fork's _base_/datasets/cityscapes_1025x1025.py (Normalize and Pad: the
# data_preprocessor, size=crop_size, labels padded with 255).
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

# Strict loaders (mmdiverse.datasets.transforms), swapped in by type name
# (mmdiverse.datasets.strict_pipelines), other arguments kept: a truncated or
# unreadable image or label map, or a label outside 0..18 other than 255,
# stops the run naming the file.
strict_loaders = dict(
    LoadImageFromFile=dict(type='CheckedLoadImageFromFile'),
    LoadAnnotations=dict(type='CheckedLoadAnnotations', num_classes=19))
from mmdiverse.datasets.strict_pipelines import strict_pipeline  # noqa: E402
from mmdiverse.datasets.tta_pipelines import multi_scale_flip_tta  # noqa: E402

tta_pipeline = multi_scale_flip_tta(tta_scale, img_ratios, strict_loaders)

# 8 GPUs x 1 image per GPU (the fork's samples_per_gpu=1)
train_dataloader = dict(batch_size=1, dataset=dict(
    pipeline=strict_pipeline(train_pipeline, strict_loaders)))
val_dataloader = dict(batch_size=1, dataset=dict(
    pipeline=strict_pipeline(test_pipeline, strict_loaders)))
test_dataloader = val_dataloader

# tools/test.py --show-dir paints every test image (mmseg's hook: every 50th).
default_hooks = dict(visualization=dict(interval=1))
