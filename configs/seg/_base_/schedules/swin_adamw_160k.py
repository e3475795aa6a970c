# The Swin AdamW schedule of the Gong fork's segmentation configs (github: ChengyueGongR/
# PatchVisionTransformer, swin-segmentation/, mmseg 0.11): AdamW 6e-5, no decay on norms and
# position tables, no clipping, 1500-iteration linear warm-up and poly as mmcv computes it
# (WarmupPolyLR), on mmseg's 160k loop (docs/fidelity.md, "Segmentation").
_base_ = 'mmseg::_base_/schedules/schedule_160k.py'

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.00006, betas=(0.9, 0.999), weight_decay=0.01),
    clip_grad=None,
    paramwise_cfg=dict(
        custom_keys={
            'absolute_pos_embed': dict(decay_mult=0.0),
            'relative_position_bias_table': dict(decay_mult=0.0),
            'norm': dict(decay_mult=0.0),
        }
    ),
)
param_scheduler = [
    dict(
        type='WarmupPolyLR',
        warmup_iters=1500,
        warmup_ratio=1e-6,
        power=1.0,
        eta_min=0.0,
        begin=0,
        end=160000,
        by_epoch=False,
    ),
]
default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook'))
