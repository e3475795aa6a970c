# UperNet + Swin-L (window 12) on ADE20K (150 classes): 512x512 crops, 160k
# iterations, 8 GPUs x 2 images, AdamW lr 6e-5 / weight decay 0.01 (none on norms
# and relative position bias tables), linear warm-up + poly, drop path 0.3 --
# mmseg's published Swin-L UperNet recipe, composed from mmseg's own bases; only
# the backbone differs (mmpretrain's SwinTransformer, loaded strictly from the
# diversity-pretrained checkpoint).
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
    backbone=dict(init_cfg=dict(checkpoint=pretrained)),
    decode_head=dict(num_classes=150),
    auxiliary_head=dict(num_classes=150),
)

# Strict loaders (mmdiverse.datasets.transforms), swapped into mmseg's pipelines
# by type name, other arguments kept: a truncated or unreadable image or label
# map, or a label outside 0..149 other than 255 (after reduce_zero_label),
# stops the run naming the file. (--tta uses mmseg's tta_pipeline as it is.)
strict_loaders = dict(
    LoadImageFromFile=dict(type='CheckedLoadImageFromFile'),
    LoadAnnotations=dict(type='CheckedLoadAnnotations', num_classes=150))

# 8 GPUs x 2 images per GPU
from mmdiverse.datasets.strict_pipelines import strict_pipeline  # noqa: E402

train_dataloader = dict(batch_size=2, dataset=dict(
    pipeline=strict_pipeline(_base_.train_dataloader.dataset.pipeline, strict_loaders)))
val_dataloader = dict(batch_size=1, dataset=dict(
    pipeline=strict_pipeline(_base_.val_dataloader.dataset.pipeline, strict_loaders)))
test_dataloader = val_dataloader

# tools/test.py --show-dir paints every test image (mmseg's hook: every 50th).
default_hooks = dict(visualization=dict(interval=1))
