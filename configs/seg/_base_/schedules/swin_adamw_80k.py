# The fork's Swin AdamW schedule (swin_adamw_160k.py) over 80k iterations, validation and
# checkpoints every 8000, as its Cityscapes config runs it (docs/fidelity.md, "Segmentation").
_base_ = './swin_adamw_160k.py'

param_scheduler = [dict(_base_.param_scheduler[0], end=80000)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=80000, val_interval=8000)
default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook', by_epoch=False, interval=8000))
