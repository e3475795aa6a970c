# Swin-B (window 7, 224 px), ImageNet-1K from scratch with mmpretrain's Swin recipe, regularizers
# off: the baseline of swin_b_diverse.py. Recipe: this project's design (docs/fidelity.md).
# 8 GPUs x 128 images = 1024 total batch ("8xb128"; the recipe's 16xb64 has the same total).
_base_ = [
    'mmpretrain::swin_transformer/swin-base_16xb64_in1k.py',
    './_base_/mmdiverse_runtime.py',
]

auto_scale_lr = dict(base_batch_size=1024, enable=True)
default_hooks = dict(
    checkpoint=dict(type='SafeCheckpointHook'), export_meta=dict(type='ExportMetaHook')
)

train_dataloader = dict(
    batch_size=128,
    dataset=dict(
        pipeline=[
            dict(type='CheckedLoadImageFromFile'),
            *_base_.train_dataloader.dataset.pipeline[1:],
        ]
    ),
)
val_dataloader = dict(
    dataset=dict(
        pipeline=[
            dict(type='CheckedLoadImageFromFile'),
            *_base_.val_dataloader.dataset.pipeline[1:],
        ]
    )
)
test_dataloader = val_dataloader
custom_hooks = _base_.mmdiverse_hooks
