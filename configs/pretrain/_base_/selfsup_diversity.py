# The label-free diversity terms of the self-supervised configs (DiverseMAE, DiverseSimMIM; no
# patch mixing: it needs labels). Coefficients: this project's design, chosen by gradient share
# (mmdiverse.analysis.gradient_share: each term near 0.1 of the reconstruction's backbone
# gradient at the recipe's initialization; docs/fidelity.md, docs/selfsup.md).
ssl_diversity = dict(
    mae=dict(
        tap=dict(first_layer=0, attn_layers=(0,)),
        patch_cos=dict(type='PatchCosineLoss', loss_weight=0.1),
        patch_contrast=dict(type='PatchContrastiveLoss', loss_weight=0.6),
        attn_div=dict(type='AttentionDiversityLoss', loss_weight=0.1),
        weight_cond=dict(type='WeightConditionLoss', loss_weight=2e-3),
    ),
    simmim=dict(
        tap=dict(attn_layers=(0,)),
        patch_cos=dict(type='PatchCosineLoss', loss_weight=0.02),
        patch_contrast=dict(type='PatchContrastiveLoss', loss_weight=0.08),
        attn_div=dict(type='AttentionDiversityLoss', loss_weight=6.0),
        weight_cond=dict(type='WeightConditionLoss', loss_weight=3e-3),
    ),
)
