# UperNet + FCN auxiliary head (mmseg's _base_/models/upernet_swin.py, the Gong fork's heads) on
# mmpretrain's Swin-L, window 12: the pretraining configs' backbone class, loaded strictly by
# TransferEncoderDecoder; backbone_transfer names the keys new on purpose (docs/segmentation.md,
# docs/fidelity.md).
_base_ = 'mmseg::_base_/models/upernet_swin.py'


model = dict(
    type='TransferEncoderDecoder',
    backbone=dict(
        _delete_=True,
        type='mmpretrain.SwinTransformer',
        arch='large',
        img_size=384,
        window_size=12,
        drop_path_rate=0.3,
        out_indices=(0, 1, 2, 3),
        pad_small_map=True,
        init_cfg=dict(type='Pretrained', checkpoint=None, prefix='backbone.'),
    ),
    backbone_transfer=dict(new_keys=[r'norm[0-2]\..*'], dropped_keys=[]),
    decode_head=dict(in_channels=[192, 384, 768, 1536], in_index=[0, 1, 2, 3], channels=512),
    auxiliary_head=dict(
        in_channels=768,
        in_index=2,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4),
    ),
    test_cfg=dict(mode='whole'),
)
