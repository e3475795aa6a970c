# DeiT-B24: DeiT-B made deeper (24 layers, width 768, 12 heads), ImageNet-1K
# from scratch, DeiT recipe, regularizers OFF: the baseline of
# deit_b24_diverse.py.
# Recipe: this project's design; no published run used it (docs/fidelity.md).
# 8 GPUs x 128 images = 1024 total batch ("8xb128"); lr via auto_scale_lr.
#   tools/dist_train.sh configs/pretrain/deit_b24_baseline.py 8
_base_ = ['./deit_b12_baseline.py']

model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=768, num_layers=24, num_heads=12,
                  feedforward_channels=3072)))
