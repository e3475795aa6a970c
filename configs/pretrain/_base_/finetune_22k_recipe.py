# The Swin authors' ImageNet-22K -> 1K fine-tuning schedule
# (swin_large_patch4_window12_384_22kto1k_finetune), shared by
# swin_l_baseline.py and vit_l24_baseline.py (and their diverse configs):
# 30 epochs, AdamW lr 2e-5 x batch / 512, 5 warm-up epochs from 2e-8, cosine
# to 2e-7, weight decay 1e-8, Mixup 0.8 + CutMix 1.0, label smoothing 0.1.
# (The configs take these by name: mmengine refuses the same key in two
# sibling bases, and their mmpretrain recipes set these keys too.)
ft22k_head_loss = dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')
ft22k_augments = [dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]
ft22k_optim_wrapper = dict(optimizer=dict(lr=2e-5, weight_decay=1e-8))
ft22k_param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=2e-7, by_epoch=True, begin=5),
]
ft22k_train_cfg = dict(max_epochs=30)
ft22k_auto_scale_lr = dict(base_batch_size=512, enable=True)
