# The Swin authors' ImageNet-22K -> 1K fine-tuning (swin_large_patch4_window12_384_22kto1k_
# finetune): 30 epochs, AdamW lr 2e-5 x batch / 512, weight decay 1e-8, 5 warm-up epochs, cosine
# to 2e-7, Mixup 0.8 + CutMix 1.0, label smoothing 0.1 (docs/pretraining.md, docs/fidelity.md).
# Configs take these by name (their mmpretrain recipes set the same keys).
ft22k_head_loss = dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')
ft22k_augments = [dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]
ft22k_optim_wrapper = dict(optimizer=dict(lr=2e-5, weight_decay=1e-8))
ft22k_param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=5,
        convert_to_iter_based=True,
    ),
    dict(type='CosineAnnealingLR', eta_min=2e-7, by_epoch=True, begin=5),
]
ft22k_train_cfg = dict(max_epochs=30)
ft22k_auto_scale_lr = dict(base_batch_size=512, enable=True)
