"""Tiny mmpretrain MAE and SimMIM models (32 px images) for the self-supervised tests."""

#: The four label-free terms, each at weight 1.
LABEL_FREE_TERMS = dict(
    patch_cos=dict(type='PatchCosineLoss', loss_weight=1.0),
    patch_contrast=dict(type='PatchContrastiveLoss', loss_weight=1.0),
    attn_div=dict(type='AttentionDiversityLoss', loss_weight=1.0),
    weight_cond=dict(type='WeightConditionLoss', loss_weight=1.0),
)


def _with_diversity(cfg, diversity):
    if diversity is not None:
        cfg['diversity'] = diversity
    return cfg


def tiny_mae_cfg(diversity=None, model_type='DiverseMAE'):
    """A 2-layer, 32-dim ``MAEViT`` (8 px patches: 16 tokens, 4 visible) with
    a 1-layer decoder; ``diversity`` is added when given."""
    cfg = dict(
        type=model_type,
        backbone=dict(
            type='MAEViT',
            arch=dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64),
            img_size=32,
            patch_size=8,
            mask_ratio=0.75,
        ),
        neck=dict(
            type='MAEPretrainDecoder',
            num_patches=16,
            patch_size=8,
            in_chans=3,
            embed_dim=32,
            decoder_embed_dim=16,
            decoder_depth=1,
            decoder_num_heads=2,
        ),
        head=dict(
            type='MAEPretrainHead',
            norm_pix=True,
            patch_size=8,
            loss=dict(type='PixelReconstructionLoss', criterion='L2'),
        ),
    )
    return _with_diversity(cfg, diversity)


def tiny_simmim_cfg(diversity=None, model_type='DiverseSimMIM'):
    """A two-stage, 16-dim ``SimMIMSwinTransformer`` (window 2, no drop path;
    last grid 4x4 of 8 px cells) with SimMIM's linear decoder; ``diversity``
    is added when given."""
    cfg = dict(
        type=model_type,
        backbone=dict(
            type='SimMIMSwinTransformer',
            arch=dict(embed_dims=16, depths=[2, 2], num_heads=[2, 2]),
            img_size=32,
            out_indices=(1,),
            drop_path_rate=0.0,
            stage_cfgs=dict(block_cfgs=dict(window_size=2)),
        ),
        neck=dict(type='SimMIMLinearDecoder', in_channels=32, encoder_stride=8),
        head=dict(
            type='SimMIMHead',
            patch_size=4,
            loss=dict(type='PixelReconstructionLoss', criterion='L1', channel=3),
        ),
    )
    return _with_diversity(cfg, diversity)
