# MAE ViT-B/16 fine-tuned on ImageNet-1K, 100 epochs: mmpretrain's MAE benchmark
# mae/benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py unchanged (layer decay 0.65; He et al.
# 2022), from the export of configs/pretrain/mae_vit_b_diverse.py (docs/selfsup.md).
# 8 GPUs x 128 images = 1024 total batch ("8xb128").
#   tools/dist_train.sh configs/finetune/mae_vit_b_in1k.py 8
_base_ = [
    'mmpretrain::mae/benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py',
    '../pretrain/_base_/mmdiverse_runtime.py',
]

pretrained = 'work_dirs/mae_vit_b_diverse/backbone_export.pth'
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained)))
custom_hooks = _base_.mmdiverse_hooks
