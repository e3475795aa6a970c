# Swin-L (window 12, 384 px) initialised from ImageNet-22K, fine-tuned on
# ImageNet-1K with the patch-diversity regularizers.
# Recipe: this project's design (five terms on the Swin authors' 22K -> 1K
# fine-tuning). Gong et al. released a diverse Swin-L checkpoint but not its
# recipe, so no published number is given here (docs/fidelity.md).
# Baseline: swin_l_baseline.py (same schedule, pretrained weights and pipeline).
# 8 GPUs x 64 images = 512 total batch ("8xb64"); lr via auto_scale_lr.
#   tools/dist_train.sh configs/pretrain/swin_l_diverse.py 8
# The exported backbone (work_dir/backbone_export.pth) is what the UperNet
# Swin-L configs in configs/seg load.
#
# Pretrained weights: made by tools/convert_checkpoint.py from Microsoft's
# swin_large_patch4_window12_384_22k.pth (README, "Checkpoint conversion").
pretrained = 'checkpoints/swin_large_patch4_window12_384_22k_mmpretrain.pth'

_base_ = ['./swin_l_baseline.py', './_base_/diversity.py']

model = dict(
    type='DiverseImageClassifier',
    backbone=dict(init_cfg=dict(checkpoint=pretrained)),
    diversity=_base_.diversity_swin,
    # 384 px input, last stage 12x12 tokens of 32 px.
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), _base_.patch_cutmix_swin]),
)
