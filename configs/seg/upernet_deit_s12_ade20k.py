# UperNet + DeiT-S on ADE20K: mmseg's published recipe (vit/vit_deit-s16-ln_mln_upernet_8xb2-
# 160k_ade20k-512x512.py) with mmpretrain's VisionTransformer loaded strictly from the export of
# configs/pretrain/deit_s12_diverse.py: this project's design (docs/fidelity.md); --tta uses
# mmseg's tta_pipeline as it is.
_base_ = [
    'mmseg::vit/vit_deit-s16-ln_mln_upernet_8xb2-160k_ade20k-512x512.py',
    './_base_/mmdiverse_runtime.py',
]


pretrained = 'work_dirs/deit_s12_diverse/backbone_export.pth'
model = dict(
    type='TransferEncoderDecoder',
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmpretrain.VisionTransformer',
        arch='deit-small',
        img_size=512,
        patch_size=16,
        out_indices=[2, 5, 8, 11],
        drop_path_rate=0.1,
        final_norm=True,
        out_type='featmap',
        with_cls_token=True,
        interpolate_mode='bicubic',
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.'),
    ),
    backbone_transfer=dict(new_keys=[], dropped_keys=[]),
)
# mmpretrain names the ViT layer norms ln1 / ln2 (mmseg's ViT: norm1 / norm2).
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'ln1': dict(decay_mult=0.0), 'ln2': dict(decay_mult=0.0)})
)

train_dataloader = dict(
    dataset=dict(
        pipeline=[
            dict(type='CheckedLoadImageFromFile'),
            dict(type='CheckedLoadAnnotations', reduce_zero_label=True, num_classes=150),
            *_base_.train_dataloader.dataset.pipeline[2:],
        ]
    )
)
val_dataloader = dict(
    dataset=dict(
        pipeline=[
            dict(type='CheckedLoadImageFromFile'),
            dict(type='Resize', scale=(2048, 512), keep_ratio=True),
            dict(type='CheckedLoadAnnotations', reduce_zero_label=True, num_classes=150),
            dict(type='PackSegInputs'),
        ]
    )
)
test_dataloader = val_dataloader
default_hooks = dict(visualization=dict(interval=1), checkpoint=dict(type='SafeCheckpointHook'))
