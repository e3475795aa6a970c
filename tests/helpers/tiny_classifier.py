"""A small ViT ``DiverseImageClassifier`` with the five terms and its batches, for the tests of
one training step (host syncs, AMP, fused attention)."""

import torch
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from .configs import diversity_terms

NUM_CLASSES = 4
IMG = 32
TERMS = diversity_terms()  # configs/pretrain/_base_/diversity.py
LOSS_TYPES = (
    'PatchCosineLoss',
    'PatchContrastiveLoss',
    'PatchMixingLoss',
    'AttentionDiversityLoss',
    'WeightConditionLoss',
)
#: The keys under which a diverse model returns the five terms, in the same order.
LOSS_KEYS = (
    'loss_patch_cos',
    'loss_patch_contrast',
    'loss_patch_mix',
    'loss_attn_div',
    'loss_weight_cond',
)


#: A 3-block, 32-wide ViT at 32 px (8 px patches), no drop path.
VIT = dict(
    type='VisionTransformer',
    arch=dict(embed_dims=32, num_layers=3, num_heads=2, feedforward_channels=64),
    img_size=IMG,
    patch_size=8,
    drop_path_rate=0.0,
)


def classifier_cfg(diversity=None, model_type='DiverseImageClassifier'):
    """The config of :data:`VIT` with a linear head; ``diversity`` goes to a
    ``DiverseImageClassifier`` (a stock ``ImageClassifier`` takes none)."""
    cfg = dict(
        type=model_type,
        backbone=VIT,
        neck=None,
        head=dict(type='VisionTransformerClsHead', num_classes=NUM_CLASSES, in_channels=32),
    )
    if model_type == 'DiverseImageClassifier':
        cfg['diversity'] = diversity
    return cfg


def vit_classifier(augments, num_layers=2, attn_layers=(0,)):
    """A small ViT ``DiverseImageClassifier`` with all five terms."""
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(
            dict(
                type='DiverseImageClassifier',
                data_preprocessor=dict(num_classes=NUM_CLASSES),
                backbone=dict(
                    type='VisionTransformer',
                    arch=dict(
                        embed_dims=32, num_layers=num_layers, num_heads=2, feedforward_channels=64
                    ),
                    img_size=IMG,
                    patch_size=8,
                    drop_path_rate=0.1,
                ),
                head=dict(
                    type='VisionTransformerClsHead',
                    num_classes=NUM_CLASSES,
                    in_channels=32,
                    loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
                ),
                diversity=dict(TERMS, tap=dict(first_layer=0, attn_layers=attn_layers)),
                train_cfg=dict(augments=augments),
            )
        )


AUGMENTS = {
    # PatchCutMix alone: every batch takes the per-patch target route.
    'patch_cutmix': [dict(type='PatchCutMix', alpha=1.0, patch_size=8)],
    # The configs' pair (mmpretrain's Mixup + PatchCutMix, chosen per batch).
    'mixup_patch_cutmix': [
        dict(type='Mixup', alpha=0.8),
        dict(type='PatchCutMix', alpha=1.0, patch_size=8),
    ],
}


def make_batch(batch, device, seed):
    """A collated batch as the dataloader delivers it (uint8 images)."""
    gen = torch.Generator().manual_seed(seed)
    inputs = torch.randint(0, 256, (batch, 3, IMG, IMG), dtype=torch.uint8, generator=gen)
    samples = [DataSample().set_gt_label(int(c)) for c in torch.arange(batch) % NUM_CLASSES]
    if device != 'cpu':  # already on the device: the copy is the dataloader's business
        inputs = inputs.to(device)
        samples = [s.to(device) for s in samples]
    return dict(inputs=inputs, data_samples=samples)


def loss_modules(model, names=LOSS_TYPES):
    """The model's diversity loss modules of the given class names."""
    return [m for m in model.modules() if type(m).__name__ in names]
