# Diverse-ViT's DeiT-S training (Chen et al. 2022, github: VITA-Group/Diverse-ViT,
# script/run_deit_small_diverse.sh and run_deit_small_24layer_diverse.sh with
# main.py's defaults) as the deltas from this project's own DeiT-S recipe
# (configs/pretrain/deit_s12_diverse.py). Every value and its source:
# docs/fidelity.md, "Diverse-ViT DeiT-S". The configs take these by name
# (mmengine refuses the same key in two sibling bases).

# The objective (points 1-5 of docs/fidelity.md): options of this project's
# modules whose defaults stay ours.
dvit_diversity = dict(
    # cosine and contrastive "last": the last block's output before the final norm
    tap=dict(similarity_tokens='pre_norm'),
    # signed mean over all i, j including the diagonal
    patch_cos=dict(absolute=False),
    # "first" (pos_drop(patch_embed(x) + pos_embed), patches) is not detached
    patch_contrast=dict(detach_first=False),
    # (CE_cls + sum_i CE_i) / (n + 1), the class token's CE inside the mean
    patch_mix=dict(composition='token_mean'),
    # one power step from a fresh U[0, 1) vector at every step, back-propagated
    weight_cond=dict(estimator='fresh_rayleigh'),
)

# Batch mixing (point 6; main.py: --mixup 0.8 --cutmix 1.0 --mixup-switch-prob
# 0.5, mix.py): one choice per batch, images paired with their mirror in the
# batch (flip(0)); the CutMix box in pixels, boundary patches with fractional
# targets. Label smoothing 0.1 stays the head loss's (timm smooths the one-hot
# targets before mixing: the same targets).
dvit_augments = [
    dict(type='PairedMixup', alpha=0.8, pairing='mirror'),
    dict(type='PatchCutMix', alpha=1.0, patch_size=16, box_alignment='pixel', pairing='mirror'),
]

# Recipe (point 7): AMP (NativeScaler = torch GradScaler, dynamic scale), no
# gradient clipping (--clip-grad None; mmpretrain's DeiT recipe clips at 5.0).
dvit_optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic', clip_grad=None)

# The lr as DeiT's main.py runs timm's cosine scheduler (--sched cosine,
# --warmup-epochs 5 from --warmup-lr 1e-6, --min-lr 1e-5, 300 epochs): changed
# once per epoch, epoch e at timm's value for e - 1, cosine phase from epoch 0
# (mmdiverse.engine.schedulers.TimmEpochCosineLR). The project's per-iteration
# LinearLR + CosineAnnealingLR differs by up to 6 % after the warm-up.
dvit_param_scheduler = [
    dict(type='TimmEpochCosineLR', t_initial=300, lr_min=1e-5, warmup_lr_init=1e-6,
         warmup_t=5, lag=1, begin=0, end=300, by_epoch=True),
]

# An EMA of the weights is kept (--model-ema, decay 0.99996 = momentum 4e-5,
# updated every step) but the raw model is evaluated (main.py evaluates
# `model`). A non-finite loss does not stop the run (engine.py replaces it by
# nan_to_num and continues): the step is skipped here.
dvit_hooks = [
    dict(type='EMAHook', momentum=4e-5, evaluate_on_ema=False, evaluate_on_origin=True,
         priority='ABOVE_NORMAL'),
    dict(type='NonFiniteLossHook', action='skip'),
    dict(type='RandomStateHook'),
]
