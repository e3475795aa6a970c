# SimMIM Swin-B (window 6, 192 px) with the four label-free diversity terms (DiverseSimMIM),
# 100 epochs: the recipe of simmim_swin_b_baseline.py. Recipe: this project's design;
# coefficients chosen by gradient share (_base_/selfsup_diversity.py; docs/fidelity.md).
# 8 GPUs x 256 images = 2048 total batch ("8xb256").
#   tools/dist_train.sh configs/pretrain/simmim_swin_b_diverse.py 8
_base_ = ['./simmim_swin_b_baseline.py', './_base_/selfsup_diversity.py']

model = dict(type='DiverseSimMIM', diversity=_base_.ssl_diversity.simmim)
