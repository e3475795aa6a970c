# The five patch-diversity terms at Diverse-ViT's DeiT-S coefficients (Chen et al. 2022), used
# unchanged for every model, with each backbone family's taps and patch-aligned CutMix (16 px
# ViT tokens, 32 px last Swin stage). Why one set, what each tap reads: docs/regularizers.md;
# sources: docs/fidelity.md.
diversity_terms = dict(
    patch_cos=dict(type='PatchCosineLoss', loss_weight=0.5),
    patch_contrast=dict(type='PatchContrastiveLoss', loss_weight=0.5),
    patch_mix=dict(type='PatchMixingLoss', loss_weight=1.0),
    attn_div=dict(type='AttentionDiversityLoss', loss_weight=1e-4),
    weight_cond=dict(type='WeightConditionLoss', loss_weight=5e-4),
)

diversity_vit = dict(tap=dict(first_layer=0, attn_layers=(0,)), **diversity_terms)
patch_cutmix_vit = dict(type='PatchCutMix', alpha=1.0, patch_size=16)

diversity_swin = dict(tap=dict(attn_layers=(0,)), **diversity_terms)
patch_cutmix_swin = dict(type='PatchCutMix', alpha=1.0, patch_size=32)
