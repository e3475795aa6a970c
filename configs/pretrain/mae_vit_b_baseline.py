# MAE ViT-B/16 pretraining on ImageNet-1K, 300 epochs: mmpretrain's recipe
# mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py unchanged (He et al. 2022;
# docs/fidelity.md). 8 GPUs x 512 images = 4096 total batch ("8xb512").
# 1600 epochs: mae_vit_b_baseline_1600e.py.
#   tools/dist_train.sh configs/pretrain/mae_vit_b_baseline.py 8
_base_ = [
    'mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py',
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
