# upernet_swin_l_ade20k.py with the patch-diversity regularizers kept on during
# fine-tuning: DiverseEncoderDecoder applies the taps and losses of pretraining
# to the segmentation backbone and adds their terms (loss_patch_cos,
# loss_patch_contrast, loss_attn_div, loss_weight_cond; diagnostic
# patch_cos_sim) to mmseg's decode / auxiliary losses. The Swin taps read the
# last stage after its output norm (16x16 tokens for a 512 crop); the
# contrastive term compares them with the input of the last stage's first block.
# Patch mixing is a classification term and is not available here. The terms,
# taps and loss weights are those of configs/pretrain/swin_l_diverse.py
# (configs/pretrain/_base_/diversity.py; tests/test_models/test_segmentors keeps
# them equal).
_base_ = './upernet_swin_l_ade20k.py'

model = dict(
    type='DiverseEncoderDecoder',
    diversity=dict(
        tap=dict(attn_layers=(0, )),
        patch_cos=dict(type='PatchCosineLoss', loss_weight=0.5),
        patch_contrast=dict(type='PatchContrastiveLoss', loss_weight=0.5),
        attn_div=dict(type='AttentionDiversityLoss', loss_weight=1e-4),
        weight_cond=dict(type='WeightConditionLoss', loss_weight=5e-4),
    ),
)
