# MAE ViT-B/16 with the four label-free diversity terms (DiverseMAE), 300 epochs: the recipe of
# mae_vit_b_baseline.py. Recipe: this project's design; coefficients chosen by gradient share
# (_base_/selfsup_diversity.py; docs/fidelity.md). 8 GPUs x 512 images = 4096 total batch
# ("8xb512"). 1600 epochs: mae_vit_b_diverse_1600e.py.
#   tools/dist_train.sh configs/pretrain/mae_vit_b_diverse.py 8
_base_ = ['./mae_vit_b_baseline.py', './_base_/selfsup_diversity.py']

model = dict(type='DiverseMAE', diversity=_base_.ssl_diversity.mae)
