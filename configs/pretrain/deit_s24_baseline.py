# DeiT-S24 (DeiT-S made 24 layers deep), ImageNet-1K from scratch, regularizers off: the baseline
# of deit_s24_diverse.py. Recipe: this project's design (docs/fidelity.md); Diverse-ViT's
# published run: diverse_vit/deit_s24*.py. 8 GPUs x 128 images = 1024 total batch ("8xb128").
_base_ = ['./deit_s12_baseline.py']

model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True, embed_dims=384, num_layers=24, num_heads=6, feedforward_channels=1536
        )
    )
)
