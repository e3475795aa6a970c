# MAE ViT-B/16 pretraining on ImageNet-1K, 1600 epochs (the length of MAE's
# published 83.6 / 48.1 run): mmpretrain's recipe
# mae/mae_vit-base-p16_8xb512-amp-coslr-1600e_in1k.py unchanged (docs/fidelity.md).
# 8 GPUs x 512 images = 4096 total batch ("8xb512").
#   tools/dist_train.sh configs/pretrain/mae_vit_b_baseline_1600e.py 8
_base_ = [
    'mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-1600e_in1k.py',
    './_base_/mmdiverse_runtime.py',
]

default_hooks = dict(
    checkpoint=dict(type='SafeCheckpointHook'), export_meta=dict(type='ExportMetaHook')
)
custom_hooks = _base_.mmdiverse_hooks
train_dataloader = dict(
    dataset=dict(
        pipeline=[
            dict(type='CheckedLoadImageFromFile'),
            *_base_.train_dataloader.dataset.pipeline[1:],
        ]
    )
)
