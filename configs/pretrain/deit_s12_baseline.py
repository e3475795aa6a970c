# DeiT-S (12 layers, width 384, 6 heads), ImageNet-1K from scratch, 300 epochs,
# DeiT recipe, regularizers OFF: the baseline of deit_s12_diverse.py.
# Recipe: this project's design (mmpretrain's DeiT-S recipe + DeiT's repeated
# augmentation, warm-up and drop path); no published run used it, so no published
# number is given. Diverse-ViT's published DeiT-S run: diverse_vit/deit_s12*.py
# (docs/fidelity.md).
# 8 GPUs x 128 images = 1024 total batch ("8xb128"). Other GPU counts or batch
# sizes: the learning rate follows auto_scale_lr (base batch 1024).
#   tools/dist_train.sh configs/pretrain/deit_s12_baseline.py 8
_base_ = [
    'mmpretrain::deit/deit-small_4xb256_in1k.py',
    './_base_/deit_recipe.py',
    './_base_/mmdiverse_runtime.py',
]

model = dict(backbone=dict(drop_path_rate=_base_.deit_drop_path_rate))

param_scheduler = _base_.deit_param_scheduler
auto_scale_lr = dict(base_batch_size=1024, enable=True)

# Writes meta['mmdiverse'] into checkpoints; exports work_dir/backbone_export.pth.
default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook'),
                     export_meta=dict(type='ExportMetaHook'))

# Strict image loading and the mmdiverse hooks (_base_/mmdiverse_runtime.py).
from mmdiverse.datasets.strict_pipelines import strict_pipeline  # noqa: E402

train_dataloader = dict(batch_size=128, sampler=_base_.deit_sampler, dataset=dict(
    pipeline=strict_pipeline(_base_.train_dataloader.dataset.pipeline, _base_.strict_loaders)))
val_dataloader = dict(dataset=dict(
    pipeline=strict_pipeline(_base_.val_dataloader.dataset.pipeline, _base_.strict_loaders)))
test_dataloader = val_dataloader   # the recipe tests as it validates
custom_hooks = _base_.mmdiverse_hooks
