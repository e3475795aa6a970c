# UperNet on ADE20K, 40k iterations, from an ImageNet-100 DeiT-24L (configs/pretrain/in100/):
# this project's design, upernet_deit_s12_ade20k.py at DeiT-Ti width, 24 blocks and a quarter
# of the schedule (docs/in100.md, docs/fidelity.md). Baseline backbone: --cfg-options
# model.backbone.init_cfg.checkpoint=work_dirs/deit_24l_baseline/backbone_export.pth
_base_ = ['./upernet_deit_s12_ade20k.py']

pretrained = 'work_dirs/deit_24l_diverse/backbone_export.pth'
max_iters = 40000
model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True, embed_dims=192, num_layers=24, num_heads=3, feedforward_channels=768
        ),
        out_indices=[5, 11, 17, 23],
        init_cfg=dict(checkpoint=pretrained),
    ),
    neck=dict(in_channels=[192] * 4, out_channels=192),
    decode_head=dict(in_channels=[192] * 4),
    auxiliary_head=dict(in_channels=192),
)
train_cfg = dict(max_iters=max_iters, val_interval=4000)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, by_epoch=False, begin=1500, end=max_iters),
]
default_hooks = dict(checkpoint=dict(interval=4000))
