# The demo ViT of vit_tiny_shapes.py with the five regularizers at Diverse-ViT's DeiT-S
# coefficients (configs/pretrain/_base_/diversity.py) and CutMix aligned to the 4x4-pixel patch
# grid. This project's design (docs/demo.md, docs/fidelity.md).
_base_ = ['./vit_tiny_shapes.py', '../pretrain/_base_/diversity.py']

model = dict(
    type='DiverseImageClassifier',
    diversity=_base_.diversity_vit,
    train_cfg=dict(augments=[dict(type='PatchCutMix', alpha=1.0, patch_size=4)]),
)
