# UperNet + SimMIM Swin-B on ADE20K: the recipe of upernet_swin_b_ade20k.py (window 7, 224 px)
# from configs/pretrain/simmim_swin_b_diverse.py (192 px, window 6: bias tables resized 11x11 ->
# 13x13 by the project's one resize). This project's design (docs/fidelity.md, docs/selfsup.md).
#   tools/dist_train.sh configs/seg/upernet_simmim_swin_b_ade20k.py 8
_base_ = './upernet_swin_b_ade20k.py'

pretrained = 'work_dirs/simmim_swin_b_diverse/backbone_export.pth'
model = dict(
    backbone=dict(init_cfg=dict(checkpoint=pretrained)),
    # SimMIM's mask token is pretraining-only
    backbone_transfer=dict(dropped_keys=['mask_token']),
)
