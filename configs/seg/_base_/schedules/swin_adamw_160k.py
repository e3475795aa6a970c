# mmseg's Swin fine-tuning schedule (as in `mmseg::swin/swin-*_upernet_8xb2-160k_
# ade20k-512x512.py`): AdamW lr 6e-5, betas (0.9, 0.999), weight decay 0.01 except
# on norms, relative position bias tables and absolute position embeddings;
# 1500-iteration linear warm-up, then poly (power 1) decay to 0 at 160k.
_base_ = 'mmseg::_base_/schedules/schedule_160k.py'

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.00006, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(
        custom_keys={
            'absolute_pos_embed': dict(decay_mult=0.),
            'relative_position_bias_table': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.),
        }))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=160000, by_epoch=False),
]
