# Base of the per-term ablation (python -m tools.demo --ablation): the demo ViT and recipe of
# vit_tiny_shapes.py with patch-aligned CutMix and no term on; each run adds one term with
# --cfg-options model.diversity.<term>.type=... (docs/demo.md). This project's design
# (docs/fidelity.md).
_base_ = './vit_tiny_shapes.py'

model = dict(
    type='DiverseImageClassifier',
    diversity=dict(tap=dict(first_layer=0, attn_layers=(0,))),
    train_cfg=dict(augments=[dict(type='PatchCutMix', alpha=1.0, patch_size=4)]),
)
