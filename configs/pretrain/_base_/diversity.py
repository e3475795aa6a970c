# Patch-diversity regularizers shared by every configs/pretrain/*_diverse.py.
#
# Coefficients: those Diverse-ViT (Chen et al., 2022) uses for DeiT-S -- patch
# mixing 1, patch cosine 0.5, patch contrastive 0.5, attention diversity 1e-4,
# weight conditioning 5e-4 (docs/fidelity.md). They are used unchanged for
# every model here: the published code tuned them on DeiT-S only, and keeping
# one set makes the diverse/baseline gains comparable across models. The
# cosine, contrastive and mixing terms are means over patches and the
# attention/weight terms are scale-free (cosine) or per-block sums, so the
# same weights stay sensible for wider and deeper models.
#
# A diverse config uses them as
#   _base_ = ['./<model>_baseline.py', './_base_/diversity.py']
#   model = dict(type='DiverseImageClassifier', diversity=_base_.diversity_vit, ...)
diversity_terms = dict(
    patch_cos=dict(type='PatchCosineLoss', loss_weight=0.5),
    patch_contrast=dict(type='PatchContrastiveLoss', loss_weight=0.5),
    patch_mix=dict(type='PatchMixingLoss', loss_weight=1.0),
    attn_div=dict(type='AttentionDiversityLoss', loss_weight=1e-4),
    weight_cond=dict(type='WeightConditionLoss', loss_weight=5e-4),
)

# ViT / DeiT: the contrastive term compares the patch embedding entering
# block 0 with the last tokens; the attention term reads block 0 ("block 1"
# in the papers). Patch-aligned CutMix uses the 16 px token stride.
diversity_vit = dict(tap=dict(first_layer=0, attn_layers=(0, )), **diversity_terms)
patch_cutmix_vit = dict(type='PatchCutMix', alpha=1.0, patch_size=16)

# Swin: the tap's defaults -- the contrastive term's first tokens enter the
# first block of the last stage (same 32 px grid as the last tokens; a first
# layer on a finer grid is average-pooled to the last grid, docs/fidelity.md),
# the attention term reads the
# window attention of block 0. The last tokens have a 32 px stride
# (7x7 at 224 px, 12x12 at 384 px), so CutMix boxes are 32 px aligned.
diversity_swin = dict(tap=dict(attn_layers=(0, )), **diversity_terms)
patch_cutmix_swin = dict(type='PatchCutMix', alpha=1.0, patch_size=32)
