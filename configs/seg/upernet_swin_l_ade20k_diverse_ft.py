# upernet_swin_l_ade20k.py with the diversity terms of configs/pretrain/swin_l_diverse.py kept on
# while fine-tuning (DiverseEncoderDecoder; patch mixing, a classification term, left out), their
# weights taken from configs/pretrain/_base_/diversity.py. This project's design
# (docs/segmentation.md, docs/fidelity.md).
_base_ = ['./upernet_swin_l_ade20k.py', '../pretrain/_base_/diversity.py']

model = dict(
    type='DiverseEncoderDecoder',
    diversity={term: cfg for term, cfg in _base_.diversity_swin.items() if term != 'patch_mix'},
)
