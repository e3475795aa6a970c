# Swin-B (window 7, 224 px), ImageNet-1K from scratch with mmpretrain's Swin
# recipe (300 epochs, AdamW lr 1e-3 at batch 1024, 20 warm-up epochs, cosine,
# RandAugment, Mixup 0.8 + CutMix 1.0, random erasing, label smoothing,
# stochastic depth 0.5), regularizers OFF: the baseline of swin_b_diverse.py.
# Recipe: this project's design; no published run used it (docs/fidelity.md).
# 8 GPUs x 128 images = 1024 total batch ("8xb128"; the recipe's 16xb64 has the
# same total); lr via auto_scale_lr (base batch 1024).
#   tools/dist_train.sh configs/pretrain/swin_b_baseline.py 8
_base_ = [
    'mmpretrain::swin_transformer/swin-base_16xb64_in1k.py',
    './_base_/mmdiverse_runtime.py',
]

auto_scale_lr = dict(base_batch_size=1024, enable=True)

default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook'),
                     export_meta=dict(type='ExportMetaHook'))

# Strict image loading and the mmdiverse hooks (_base_/mmdiverse_runtime.py).
from mmdiverse.datasets.strict_pipelines import strict_pipeline  # noqa: E402

train_dataloader = dict(batch_size=128, dataset=dict(
    pipeline=strict_pipeline(_base_.train_dataloader.dataset.pipeline, _base_.strict_loaders)))
val_dataloader = dict(dataset=dict(
    pipeline=strict_pipeline(_base_.val_dataloader.dataset.pipeline, _base_.strict_loaders)))
test_dataloader = val_dataloader   # the recipe tests as it validates
custom_hooks = _base_.mmdiverse_hooks
