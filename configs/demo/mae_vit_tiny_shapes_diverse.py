# Self-supervised demo, terms on: mae_vit_tiny_shapes.py as DiverseMAE with the four label-free
# terms at the coefficients of configs/pretrain/_base_/selfsup_diversity.py. This project's
# design (docs/fidelity.md, docs/selfsup.md).
_base_ = ['./mae_vit_tiny_shapes.py', '../pretrain/_base_/selfsup_diversity.py']

model = dict(type='DiverseMAE', diversity=_base_.ssl_diversity.mae)
