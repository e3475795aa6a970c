# The demo ViT of vit_tiny_shapes.py with all five regularizers on, at the
# Diverse-ViT coefficients for DeiT-S (docs/fidelity.md), and CutMix aligned
# to the 4x4-pixel patch grid so every patch token has its own mixing target.
_base_ = './vit_tiny_shapes.py'

model = dict(
    type='DiverseImageClassifier',
    diversity=dict(
        tap=dict(first_layer=0, attn_layers=(0, )),
        patch_cos=dict(type='PatchCosineLoss', loss_weight=0.5),
        patch_contrast=dict(type='PatchContrastiveLoss', loss_weight=0.5),
        patch_mix=dict(type='PatchMixingLoss', loss_weight=1.0),
        attn_div=dict(type='AttentionDiversityLoss', loss_weight=1e-4),
        weight_cond=dict(type='WeightConditionLoss', loss_weight=5e-4),
    ),
    train_cfg=dict(augments=[dict(type='PatchCutMix', alpha=1.0, patch_size=4)]),
)
