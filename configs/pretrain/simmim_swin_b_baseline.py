# SimMIM Swin-B (window 6, 192 px) pretraining on ImageNet-1K, 100 epochs:
# mmpretrain's recipe simmim/simmim_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py
# unchanged (Xie et al. 2022; docs/fidelity.md).
# 8 GPUs x 256 images = 2048 total batch ("8xb256").
#   tools/dist_train.sh configs/pretrain/simmim_swin_b_baseline.py 8
_base_ = [
    'mmpretrain::simmim/simmim_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py',
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
