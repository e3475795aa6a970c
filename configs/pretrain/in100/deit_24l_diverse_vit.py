# deit_24l_diverse.py with Diverse-ViT's objective (Chen et al. 2022; the diverse_vit/ options:
# signed cosine, pre-norm tokens, token-mean mixing, mirrored pairing): this project's design
# (docs/in100.md, docs/fidelity.md). 8 GPUs x 64 images = 512 total batch ("8xb64").
# Estimate: the baseline's 10-57 GPU-hours x the step cost (docs/in100.md), 1.2-7 h on 8 GPUs.
_base_ = ['./deit_24l_diverse.py']

model = dict(diversity=_base_.dvit_diversity, train_cfg=dict(augments=_base_.dvit_augments))
