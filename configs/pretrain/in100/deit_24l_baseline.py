# ContraNorm's 24-layer DeiT on ImageNet-100 (Guo et al. 2023, PKU-ML/ContraNorm ViT_imagenet/):
# compare with its 76.76 top-1 (81.28 with ContraNorm). Every value and source: docs/in100.md,
# docs/fidelity.md. 8 GPUs x 64 images = 512 total batch ("8xb64"), ContraNorm's 2 x 256.
# Estimate: ~10 GPU-hours (1.2 h on 8 GPUs) if GPU-bound, ~57 (7 h) if loader-bound; docs/in100.md.
_base_ = ['../deit_s12_baseline.py', '../diverse_vit/_base_/diverse_vit_recipe.py']

data_root = 'data/imagenet100'  # tools/dataset_converters/imagenet_subset.py
classes = data_root + '/meta/classes.txt'
model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True, embed_dims=192, num_layers=24, num_heads=3, feedforward_channels=768
        )
    ),
    head=dict(num_classes=100, in_channels=192),
)
data_preprocessor = dict(num_classes=100)
optim_wrapper = dict(_base_.dvit_optim_wrapper, optimizer=dict(lr=5e-4))
param_scheduler = _base_.dvit_param_scheduler
custom_hooks = _base_.dvit_hooks
auto_scale_lr = dict(base_batch_size=512)

train_dataloader = dict(batch_size=64, dataset=dict(data_root=data_root, classes=classes))
val_dataloader = dict(dataset=dict(data_root=data_root, classes=classes))
test_dataloader = val_dataloader
