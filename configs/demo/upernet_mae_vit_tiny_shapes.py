# UperNet on the self-supervised demo encoder (mae_vit_tiny_shapes*.py): the CPU-sized twin of
# configs/seg/upernet_mae_vit_b_ade20k.py (mmseg's MAE backbone, Feature2Pyramid, layer decay
# 0.65) with the data and schedule of upernet_vit_tiny_shapes.py. This project's design
# (docs/fidelity.md, docs/selfsup.md).
_base_ = './upernet_vit_tiny_shapes.py'

pretrained = 'work_dirs/demo/selfsup/mae_diverse/epoch_3.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='MAE',
        img_size=(64, 64),
        patch_size=4,
        embed_dims=64,
        num_layers=4,
        num_heads=4,
        mlp_ratio=2,
        init_values=1.0,
        out_indices=[0, 1, 2, 3],
        norm_cfg=dict(type='LN', eps=1e-6),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.'),
    ),
    neck=dict(
        _delete_=True,
        type='Feature2Pyramid',
        embed_dim=64,
        rescales=[2, 1, 0.5, 0.25],
        norm_cfg={{_base_.norm_cfg}},
    ),
    backbone_transfer=dict(
        new_keys=[r'layers\.\d+\.gamma_[12]', r'layers\.\d+\.attn\.relative_position_bias_table'],
        dropped_keys=[r'ln1\.(weight|bias)'],
    ),
)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(num_layers=4, layer_decay_rate=0.65),
    constructor='LayerDecayOptimizerConstructor',
)
