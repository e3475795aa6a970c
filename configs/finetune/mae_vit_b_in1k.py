# MAE ViT-B/16 fine-tuned on ImageNet-1K: mmpretrain's MAE benchmark
# mae/benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py unchanged (layer decay 0.65), from the
# export of configs/pretrain/mae_vit_b_diverse.py (docs/fidelity.md, docs/selfsup.md).
# 8 GPUs x 128 images = 1024 total batch ("8xb128").
#   tools/dist_train.sh configs/finetune/mae_vit_b_in1k.py 8
_base_ = [
    'mmpretrain::mae/benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py',
    '../pretrain/_base_/mmdiverse_runtime.py',
]

pretrained = 'work_dirs/mae_vit_b_diverse/backbone_export.pth'
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained)))
custom_hooks = _base_.mmdiverse_hooks
default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook'))
train_dataloader = dict(
    dataset=dict(pipeline=[dict(type='CheckedLoadImageFromFile'), *_base_.train_pipeline[1:]])
)
val_dataloader = dict(
    dataset=dict(pipeline=[dict(type='CheckedLoadImageFromFile'), *_base_.test_pipeline[1:]])
)
test_dataloader = val_dataloader
