# What DeiT's own training (Touvron et al., 2021; the baseline the
# patch-diversity papers compare against) does differently from mmpretrain's
# published DeiT configs. Used by deit_s12_baseline.py and deit_b12_baseline.py
# (and through them by the 24-layer and diverse configs):
#   * repeated augmentation (3 repeats per image, DeiT's default);
#   * 5 warm-up epochs (mmpretrain's Swin schedule, which its DeiT configs
#     reuse, warms up for 20), then cosine to 1e-5;
#   * stochastic depth 0.1 for every size (mmpretrain drops it for DeiT-S).
# Everything else -- 300 epochs, AdamW (lr 5e-4 x batch / 512, weight decay
# 0.05), RandAugment rand-m9-mstd0.5-inc1, Mixup 0.8 + CutMix 1.0, random
# erasing 0.25, label smoothing 0.1, gradient clipping -- comes from the
# mmpretrain recipe unchanged.
deit_sampler = dict(type='RepeatAugSampler', shuffle=True, num_repeats=3)
deit_param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=5),
]
deit_drop_path_rate = 0.1
