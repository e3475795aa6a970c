# The Swin fine-tuning schedule of the segmentation fork of Gong et al.
# (github: ChengyueGongR/PatchVisionTransformer, swin-segmentation/configs/swin/
# upernet_swin_large_patch4_window12_512x512_160k_ade20k.py; docs/fidelity.md):
#   optimizer  AdamW lr 6e-5, betas (0.9, 0.999), weight decay 0.01; decay
#              multiplier 0 on absolute_pos_embed, relative_position_bias_table
#              and every norm; no gradient clipping (mmcv's optimizer_config = {}).
#   lr_config  policy='poly', power=1.0, min_lr=0.0, warmup='linear',
#              warmup_iters=1500, warmup_ratio=1e-6, by_epoch=False.
# mmcv computes that lr from the run's max_iters at every iteration (warm-up
# factor times poly over the whole run); WarmupPolyLR (mmdiverse.engine.
# schedulers) is that formula, and keeps only the step count in checkpoints so
# a run resumed with a longer schedule follows the new one
# (upernet_swin_l_ade20k_200k.py). Loop, validation and checkpoint intervals:
# mmseg's schedule_160k.py, the fork's values (16000).
_base_ = 'mmseg::_base_/schedules/schedule_160k.py'

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.00006, betas=(0.9, 0.999), weight_decay=0.01),
    clip_grad=None,
    paramwise_cfg=dict(
        custom_keys={
            'absolute_pos_embed': dict(decay_mult=0.),
            'relative_position_bias_table': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.),
        }))
param_scheduler = [
    dict(type='WarmupPolyLR', warmup_iters=1500, warmup_ratio=1e-6, power=1.0, eta_min=0.0,
         begin=0, end=160000, by_epoch=False),
]
default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook'))
