# Base of the per-term ablation (python -m tools.demo --ablation): the demo ViT and recipe
# of vit_tiny_shapes.py with patch-aligned CutMix (so patch_mix has per-patch
# targets) and no term on. Each ablation run adds exactly one term, e.g.
#   --cfg-options model.diversity.attn_div.type=AttentionDiversityLoss \
#                 model.diversity.attn_div.loss_weight=1.0
# and the run without any term is the baseline; docs of the terms: README.md,
# "The regularizers". attn_div reads block 0, weight_cond every block's q, k, v.
_base_ = './vit_tiny_shapes.py'

model = dict(
    type='DiverseImageClassifier',
    diversity=dict(tap=dict(first_layer=0, attn_layers=(0, ))),
    train_cfg=dict(augments=[dict(type='PatchCutMix', alpha=1.0, patch_size=4)]),
)
