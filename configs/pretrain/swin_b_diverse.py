# Swin-B (window 7, 224 px) with the patch-diversity regularizers, ImageNet-1K
# from scratch, Swin recipe. Baseline: swin_b_baseline.py.
# Recipe: this project's design (five terms on mmpretrain's Swin-B recipe); no
# diverse Swin-B pretraining recipe was published, so no published number is
# given here (docs/fidelity.md).
# 8 GPUs x 128 images = 1024 total batch ("8xb128"); lr via auto_scale_lr.
#   tools/dist_train.sh configs/pretrain/swin_b_diverse.py 8
_base_ = ['./swin_b_baseline.py', './_base_/diversity.py']

model = dict(
    type='DiverseImageClassifier',
    diversity=_base_.diversity_swin,
    # CutMix -> PatchCutMix on the 32 px grid of the last stage (7x7 tokens).
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), _base_.patch_cutmix_swin]),
)
