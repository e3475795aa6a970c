# upernet_swin_l_ade20k.py with the patch-diversity regularizers kept on during
# fine-tuning: DiverseEncoderDecoder applies the taps and losses of pretraining
# to the segmentation backbone and adds their terms (loss_patch_cos,
# loss_patch_contrast, loss_attn_div, loss_weight_cond; diagnostic
# patch_cos_sim) to mmseg's decode / auxiliary losses. The Swin taps read the
# last stage after its output norm (16x16 tokens for a 512 crop); the
# contrastive term compares them with the input of the last stage's first block.
# Patch mixing is a classification term and is not available here.
# The terms, taps and loss weights are those of configs/pretrain/swin_l_diverse.py,
# taken from configs/pretrain/_base_/diversity.py itself (diversity_swin without
# patch_mix), so the two cannot drift apart. This recipe (diversity during
# fine-tuning) is this project's design: no published run used it.
_base_ = ['./upernet_swin_l_ade20k.py', '../pretrain/_base_/diversity.py']

model = dict(
    type='DiverseEncoderDecoder',
    diversity={term: cfg for term, cfg in _base_.diversity_swin.items() if term != 'patch_mix'},
)
