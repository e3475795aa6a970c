# DeiT-B (12 layers), ImageNet-1K from scratch, 300 epochs, regularizers off: the baseline of
# deit_b12_diverse.py. Recipe: this project's design, mmpretrain's DeiT-B (EMA kept) +
# _base_/deit_recipe.py (docs/fidelity.md). 8 GPUs x 128 images = 1024 total batch ("8xb128").
_base_ = [
    'mmpretrain::deit/deit-base_16xb64_in1k.py',
    './_base_/deit_recipe.py',
    './_base_/mmdiverse_runtime.py',
]

model = dict(backbone=dict(drop_path_rate=_base_.deit_drop_path_rate))
param_scheduler = _base_.deit_param_scheduler
auto_scale_lr = dict(base_batch_size=1024, enable=True)
default_hooks = dict(
    checkpoint=dict(type='SafeCheckpointHook'), export_meta=dict(type='ExportMetaHook')
)

train_dataloader = dict(
    batch_size=128,
    sampler=_base_.deit_sampler,
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
custom_hooks = [*_base_.custom_hooks, *_base_.mmdiverse_hooks]
