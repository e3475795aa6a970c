# UperNet + MAE ViT-B on ADE20K: mmseg's mae/mae-base_upernet_8xb2-amp-160k_ade20k-512x512.py
# value for value, with AMP made real (AmpOptimWrapper; its fp16 key is inert in mmseg 1.x) and
# the backbone loaded strictly from configs/pretrain/mae_vit_b_diverse.py (docs/selfsup.md).
#   tools/dist_train.sh configs/seg/upernet_mae_vit_b_ade20k.py 8
#   tools/dist_test.sh configs/seg/upernet_mae_vit_b_ade20k.py CKPT 8 --tta
_base_ = [
    'mmseg::mae/mae-base_upernet_8xb2-amp-160k_ade20k-512x512.py',
    './_base_/mmdiverse_runtime.py',
]

custom_imports = dict(imports=['mmdiverse'], allow_failed_imports=False)

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
