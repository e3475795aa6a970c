# DeiT-S24: DeiT-S made deeper (24 layers, width 384, 6 heads), ImageNet-1K from
# scratch, DeiT recipe, regularizers OFF: the baseline of deit_s24_diverse.py.
# Recipe: this project's design; no published number. Diverse-ViT's published
# DeiT-S24 run: diverse_vit/deit_s24*.py (docs/fidelity.md).
# 8 GPUs x 128 images = 1024 total batch ("8xb128"); lr via auto_scale_lr.
#   tools/dist_train.sh configs/pretrain/deit_s24_baseline.py 8
_base_ = ['./deit_s12_baseline.py']

model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=384, num_layers=24, num_heads=6,
                  feedforward_channels=1536)))
