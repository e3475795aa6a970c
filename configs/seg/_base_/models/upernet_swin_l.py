# UperNet + auxiliary FCN head (mmseg's `_base_/models/upernet_swin.py`, the
# fork's heads; docs/fidelity.md) on
# mmpretrain's Swin-L with window 12: the backbone class of the pretraining
# configs, so mmpretrain / mmdiverse checkpoints load key for key.
#
# `TransferEncoderDecoder` is mmseg's EncoderDecoder, except that the backbone's
# `init_cfg=dict(type='Pretrained')` loads strictly (mmdiverse.checkpoint.
# backbone_loading): bias tables / position embeddings are resized to the new
# window / image size, and a missing, unused or mis-shaped backbone tensor stops
# the run with the keys named. `backbone_transfer` lists, as regexes, the keys
# that are new or dropped on purpose. Checkpoints in other layouts (Microsoft or
# timm Swin) are converted on the fly; their classifier head is not backbone.
_base_ = 'mmseg::_base_/models/upernet_swin.py'


model = dict(
    type='TransferEncoderDecoder',
    backbone=dict(
        _delete_=True,
        type='mmpretrain.SwinTransformer',
        arch='large',                   # embed 192, depths (2, 2, 18, 2)
        img_size=384,
        window_size=12,
        drop_path_rate=0.3,             # the fork's ADE20K value (Cityscapes: 0.5)
        out_indices=(0, 1, 2, 3),
        pad_small_map=True,             # pad (not shrink) windows on small maps
        init_cfg=dict(type='Pretrained', checkpoint=None, prefix='backbone.'),
    ),
    backbone_transfer=dict(
        # A classifier has only the last stage's output norm (norm3); UperNet
        # reads all four stages. Nothing of the pretrained backbone is dropped.
        new_keys=[r'norm[0-2]\..*'],
        dropped_keys=[],
    ),
    # The fork's heads (its _base_/models/upernet_swin.py, as mmseg's): UperNet
    # with 512 channels on all four stages; FCN auxiliary head on stage 3
    # (in_index=2) with loss weight 0.4; whole-image inference.
    decode_head=dict(in_channels=[192, 384, 768, 1536], in_index=[0, 1, 2, 3], channels=512),
    auxiliary_head=dict(in_channels=768, in_index=2,
                        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False,
                                         loss_weight=0.4)),
    test_cfg=dict(mode='whole'),
)
