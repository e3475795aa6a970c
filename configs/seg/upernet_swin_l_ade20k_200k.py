# The Gong fork's ADE20K continuation (github: ChengyueGongR/PatchVisionTransformer,
# swin-segmentation/README.md): the 160k run of upernet_swin_l_ade20k.py resumed to 200k with
# drop path 0.5; WarmupPolyLR keeps only the step count, so the lr follows poly over 200k
# (docs/fidelity.md, "Segmentation"). An interrupted continuation: add --resume.
_base_ = './upernet_swin_l_ade20k.py'

load_from = 'work_dirs/upernet_swin_l_ade20k/iter_160000.pth'
resume = True

model = dict(backbone=dict(drop_path_rate=0.5))
param_scheduler = [dict(_base_.param_scheduler[0], end=200000)]
train_cfg = dict(max_iters=200000)
