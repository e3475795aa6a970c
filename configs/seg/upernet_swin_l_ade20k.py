# UperNet + Swin-L (window 12) on ADE20K (150 classes): the recipe of the
# segmentation fork of Gong et al. (github: ChengyueGongR/PatchVisionTransformer,
# swin-segmentation/configs/swin/upernet_swin_large_patch4_window12_512x512_160k_
# ade20k.py, mmseg 0.11), written for mmseg 1.x; every value and its source is
# in docs/fidelity.md ("Segmentation"):
#   train   Resize img_scale (2048, 1024), ratio 0.5-2.0 (mmseg's own ADE20K
#           recipe uses (2048, 512)); RandomCrop 512x512, cat_max_ratio 0.75;
#           flip 0.5; PhotoMetricDistortion; 160k iterations at 8 GPUs x 2
#           images; drop path 0.3;
#   optim   AdamW 6e-5, betas (0.9, 0.999), weight decay 0.01 (0 on norms,
#           relative position bias tables, absolute position embedding);
#           linear warm-up 1500 iterations from 1e-6, poly power 1 to 0
#           (_base_/schedules/swin_adamw_160k.py);
#   heads   UperNet 512 channels, FCN auxiliary head on stage 3, weight 0.4;
#   test    whole image resized to (2048, 512); --tta: the fork's --aug-test,
#           scales 0.5-1.75 of (2048, 512) + flip.
# Published (the fork's README; its UperNet checkpoint): 54.4 mIoU ms+flip
# (Gong et al. 2021, arXiv v1: 54.5) after this run AND its continuation
# (upernet_swin_l_ade20k_200k.py). Those were fine-tuned from the fork's
# released Swin-L (87.4); this config's default backbone is the export of
# configs/pretrain/swin_l_diverse.py, this project's pretraining design (no
# recipe was published for it), so the number is the target of this recipe,
# not a result of it.
# The published run itself: --cfg-options model.backbone.init_cfg.checkpoint=
# <the fork's released Swin-L file> (Microsoft Swin keys, converted on the fly).
# Only the backbone class differs from the fork: mmpretrain's SwinTransformer
# (the pretraining configs' class), loaded strictly.
#
#   tools/dist_train.sh configs/seg/upernet_swin_l_ade20k.py 8
#   tools/dist_test.sh configs/seg/upernet_swin_l_ade20k.py CKPT 8 --tta   # ms (0.5-1.75) + flip
#
# Data: data/ade/ADEChallengeData2016 in mmseg's layout (reduce_zero_label=True).
_base_ = [
    './_base_/models/upernet_swin_l.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/mmdiverse_runtime.py',
    './_base_/schedules/swin_adamw_160k.py',
]

# The backbone checkpoint (the one key to change): the transfer file that
# configs/pretrain/swin_l_diverse.py exports when it finishes (ExportMetaHook:
# the last checkpoint's weights + meta['mmdiverse']). On the command line:
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
pretrained = 'work_dirs/swin_l_diverse/backbone_export.pth'

crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(drop_path_rate=0.3, init_cfg=dict(checkpoint=pretrained)),
    decode_head=dict(num_classes=150),
    auxiliary_head=dict(num_classes=150),
)

# The fork's _base_/datasets/ade20k.py (mmseg 0.x Resize with one img_scale
# and ratio_range = mmseg 1.x RandomResize; Normalize and Pad are done by the
# data_preprocessor: size=crop_size, pad 0, labels padded with 255).
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(2048, 1024), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
# mmseg 0.x --aug-test: MultiScaleFlipAug with img_ratios 0.5-1.75 of the test
# img_scale, i.e. keep-ratio resizes to (2048 r, 512 r), and flip.
img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
tta_scale = (2048, 512)

# Strict loaders (mmdiverse.datasets.transforms), swapped into the pipelines
# by type name (mmdiverse.datasets.strict_pipelines), other arguments kept: a
# truncated or unreadable image or label map, or a label outside 0..149 other
# than 255 (after reduce_zero_label), stops the run naming the file.
strict_loaders = dict(
    LoadImageFromFile=dict(type='CheckedLoadImageFromFile'),
    LoadAnnotations=dict(type='CheckedLoadAnnotations', num_classes=150))
from mmdiverse.datasets.strict_pipelines import strict_pipeline  # noqa: E402
from mmdiverse.datasets.tta_pipelines import multi_scale_flip_tta  # noqa: E402

tta_pipeline = multi_scale_flip_tta(tta_scale, img_ratios, strict_loaders)

# 8 GPUs x 2 images per GPU (the fork's samples_per_gpu=2)
train_dataloader = dict(batch_size=2, dataset=dict(
    pipeline=strict_pipeline(train_pipeline, strict_loaders)))
# The fork's test pipeline is mmseg's: whole image, keep-ratio resize to (2048, 512).
val_dataloader = dict(batch_size=1, dataset=dict(
    pipeline=strict_pipeline(_base_.val_dataloader.dataset.pipeline, strict_loaders)))
test_dataloader = val_dataloader

# tools/test.py --show-dir paints every test image (mmseg's hook: every 50th).
default_hooks = dict(visualization=dict(interval=1))
