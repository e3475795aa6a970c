# DeiT's own training (Touvron et al. 2021) where it differs from mmpretrain's DeiT configs:
# repeated augmentation (3 repeats), 5 warm-up epochs then cosine to 1e-5, drop path 0.1 for
# every size. This project's design (docs/pretraining.md, docs/fidelity.md); configs take
# these by name (mmengine refuses one key in two sibling bases).
deit_sampler = dict(type='RepeatAugSampler', shuffle=True, num_repeats=3)
deit_param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=5,
        convert_to_iter_based=True,
    ),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=5),
]
deit_drop_path_rate = 0.1
