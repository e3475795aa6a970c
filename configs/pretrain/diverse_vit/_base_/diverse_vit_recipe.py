# Diverse-ViT's DeiT-S objective and recipe (Chen et al. 2022; github: VITA-Group/Diverse-ViT,
# script/run_deit_small_diverse.sh, run_deit_small_24layer_diverse.sh, main.py's defaults) as
# deltas from this project's DeiT-S configs: points 1-7 and every source in docs/fidelity.md,
# "Diverse-ViT DeiT-S". Configs take these by name (mmengine refuses one key in two bases).
dvit_diversity = dict(
    tap=dict(similarity_tokens='pre_norm'),
    patch_cos=dict(absolute=False),
    patch_contrast=dict(detach_first=False),
    patch_mix=dict(composition='token_mean'),
    weight_cond=dict(estimator='fresh_rayleigh'),
)
dvit_augments = [
    dict(type='PairedMixup', alpha=0.8, pairing='mirror'),
    dict(type='PatchCutMix', alpha=1.0, patch_size=16, box_alignment='pixel', pairing='mirror'),
]
dvit_optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic', clip_grad=None)
dvit_param_scheduler = [
    dict(
        type='TimmEpochCosineLR',
        t_initial=300,
        lr_min=1e-5,
        warmup_lr_init=1e-6,
        warmup_t=5,
        lag=1,
        begin=0,
        end=300,
        by_epoch=True,
    ),
]
dvit_hooks = [
    dict(
        type='EMAHook',
        momentum=4e-5,
        evaluate_on_ema=False,
        evaluate_on_origin=True,
        priority='ABOVE_NORMAL',
    ),
    dict(type='NonFiniteLossHook', action='skip'),
    dict(type='RandomStateHook'),
]
