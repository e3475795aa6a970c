# DeiT-B24 (DeiT-B made 24 layers deep), ImageNet-1K from scratch, regularizers off: the
# baseline of deit_b24_diverse.py. Recipe: this project's design (docs/fidelity.md).
# 8 GPUs x 128 images = 1024 total batch ("8xb128"); lr via auto_scale_lr.
_base_ = ['./deit_b12_baseline.py']

model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True, embed_dims=768, num_layers=24, num_heads=12, feedforward_channels=3072
        )
    )
)
