# UperNet + DeiT-S (12 layers) on ADE20K: mmseg's published ViT/DeiT recipe
# (`vit_deit-s16-ln_mln_upernet_8xb2-160k_ade20k-512x512.py`: 512x512 crops, 160k
# iterations, 8 GPUs x 2 images, AdamW 6e-5, features of blocks 3/6/9/12 brought
# to strides 4-32 by the multi-level neck, final norm on the last one), with
# mmpretrain's VisionTransformer loaded strictly from the DeiT checkpoint of
# configs/pretrain/deit_s12_diverse.py. The position embedding is interpolated
# from the pretraining grid (14x14 at 224 px) to 32x32.
_base_ = [
    'mmseg::vit/vit_deit-s16-ln_mln_upernet_8xb2-160k_ade20k-512x512.py',
    './_base_/mmdiverse_runtime.py',
]


# The backbone checkpoint: the transfer file configs/pretrain/deit_s12_diverse.py exports.
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
pretrained = 'work_dirs/deit_s12_diverse/backbone_export.pth'

model = dict(
    type='TransferEncoderDecoder',
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmpretrain.VisionTransformer',
        arch='deit-small',               # embed 384, 12 layers, 6 heads
        img_size=512,
        patch_size=16,
        out_indices=[2, 5, 8, 11],
        drop_path_rate=0.1,
        final_norm=True,                 # the "ln" of the recipe: last output normed
        out_type='featmap',
        with_cls_token=True,
        interpolate_mode='bicubic',
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.'),
    ),
    backbone_transfer=dict(new_keys=[], dropped_keys=[]),   # every tensor, both ways
)

# mmpretrain names the ViT layer norms ln1 / ln2 (mmseg's ViT: norm1 / norm2);
# keep them out of weight decay as the recipe intends.
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'ln1': dict(decay_mult=0.), 'ln2': dict(decay_mult=0.)}))

# Strict loaders (mmdiverse.datasets.transforms), swapped into mmseg's pipelines
# by type name, other arguments kept: a truncated or unreadable image or label
# map, or a label outside 0..149 other than 255 (after reduce_zero_label),
# stops the run naming the file. (--tta uses mmseg's tta_pipeline as it is.)
strict_loaders = dict(
    LoadImageFromFile=dict(type='CheckedLoadImageFromFile'),
    LoadAnnotations=dict(type='CheckedLoadAnnotations', num_classes=150))

from mmdiverse.datasets.strict_pipelines import strict_pipeline  # noqa: E402

train_dataloader = dict(dataset=dict(
    pipeline=strict_pipeline(_base_.train_dataloader.dataset.pipeline, strict_loaders)))
val_dataloader = dict(dataset=dict(
    pipeline=strict_pipeline(_base_.val_dataloader.dataset.pipeline, strict_loaders)))
test_dataloader = val_dataloader

# tools/test.py --show-dir paints every test image (mmseg's hook: every 50th).
default_hooks = dict(visualization=dict(interval=1), checkpoint=dict(type='SafeCheckpointHook'))
