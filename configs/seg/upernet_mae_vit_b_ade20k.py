# UperNet + MAE ViT-B on ADE20K: mmseg's published recipe mae/mae-base_upernet_8xb2-amp-160k_
# ade20k-512x512.py value for value, AMP made real (AmpOptimWrapper; its fp16 key is inert in
# mmseg 1.x), backbone loaded strictly from configs/pretrain/mae_vit_b_diverse.py's export
# (docs/fidelity.md, docs/selfsup.md).
#   tools/dist_train.sh configs/seg/upernet_mae_vit_b_ade20k.py 8
_base_ = [
    'mmseg::mae/mae-base_upernet_8xb2-amp-160k_ade20k-512x512.py',
    './_base_/mmdiverse_runtime.py',
]

pretrained = 'work_dirs/mae_vit_b_diverse/backbone_export.pth'
model = dict(
    type='TransferEncoderDecoder',
    pretrained=None,
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    backbone_transfer=dict(
        # new in mmseg's MAE: layer scales (init 1.0) and relative position tables (zeros)
        new_keys=[r'layers\.\d+\.gamma_[12]', r'layers\.\d+\.attn\.relative_position_bias_table'],
        # the encoder's final norm: the recipe has final_norm=False
        dropped_keys=[r'ln1\.(weight|bias)'],
    ),
)

optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic')
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
default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook'))
