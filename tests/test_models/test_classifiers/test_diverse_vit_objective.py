"""The faithful Diverse-ViT objective against a float64 re-implementation.

The reference below is written from the published step's description
(docs/fidelity.md, points 1-6 of the DeiT-S objective), not from this
project's code: its own ViT forward from the parameters, its own CutMix
targets from the changed pixels, its own formulas. The model is this
project's ``DiverseImageClassifier`` with the faithful option of every
choice, built in float64 (the batch augment runs in float32, as in
training); values and gradients w.r.t. every parameter must agree.
"""

import math
from unittest import mock

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmdiverse  # noqa: F401  (registers the modules)
from mmdiverse.models.losses import WeightConditionLoss

DIM, LAYERS, HEADS, IMG, PATCH, CLASSES = 32, 2, 2, 32, 8, 5
SMOOTH = 0.1
COEF = dict(mix=1.0, cos=0.5, contrast=0.5, attn=1e-4, weight=5e-4)
LN_EPS = 1e-6  # mmpretrain VisionTransformer / DeiT LayerNorm
WEIGHT_SEED = 11


# ------------------------------------------------------------ the model
def faithful_model(augment='cutmix'):
    """DiverseImageClassifier with Diverse-ViT's option for every choice;
    its one batch augment is ``augment`` (Diverse-ViT picks one per batch)."""
    augments = dict(
        cutmix=dict(
            type='PatchCutMix', alpha=1.0, patch_size=PATCH, box_alignment='pixel', pairing='mirror'
        ),
        mixup=dict(type='PairedMixup', alpha=0.8, pairing='mirror'),
    )
    weight_cond = WeightConditionLoss(
        loss_weight=COEF['weight'],
        estimator='fresh_rayleigh',
        generator=torch.Generator().manual_seed(WEIGHT_SEED),
    )
    return MODELS.build(
        dict(
            type='DiverseImageClassifier',
            data_preprocessor=dict(num_classes=CLASSES),
            backbone=dict(
                type='VisionTransformer',
                arch=dict(
                    embed_dims=DIM, num_layers=LAYERS, num_heads=HEADS, feedforward_channels=2 * DIM
                ),
                img_size=IMG,
                patch_size=PATCH,
                drop_rate=0.0,
                drop_path_rate=0.0,
            ),
            head=dict(
                type='VisionTransformerClsHead',
                num_classes=CLASSES,
                in_channels=DIM,
                loss=dict(type='LabelSmoothLoss', label_smooth_val=SMOOTH, mode='original'),
            ),
            diversity=dict(
                tap=dict(first_layer=0, attn_layers=(0,), similarity_tokens='pre_norm'),
                patch_cos=dict(type='PatchCosineLoss', loss_weight=COEF['cos'], absolute=False),
                patch_contrast=dict(
                    type='PatchContrastiveLoss', loss_weight=COEF['contrast'], detach_first=False
                ),
                patch_mix=dict(
                    type='PatchMixingLoss', loss_weight=COEF['mix'], composition='token_mean'
                ),
                attn_div=dict(type='AttentionDiversityLoss', loss_weight=COEF['attn']),
                weight_cond=weight_cond,
            ),
            train_cfg=dict(augments=[augments[augment]]),
        )
    )


# ------------------------------------------------------- the reference
def layer_norm(x, params, prefix):
    return F.layer_norm(
        x, x.shape[-1:], params[prefix + '.weight'], params[prefix + '.bias'], LN_EPS
    )


def linear(x, params, prefix):
    return x @ params[prefix + '.weight'].T + params[prefix + '.bias']


def vit_forward(params, images):
    """DeiT forward: output tokens (after the final LN), the last block's
    output before it, block 0's input and block 0's attention."""
    tokens = (
        F.conv2d(
            images,
            params['backbone.patch_embed.projection.weight'],
            params['backbone.patch_embed.projection.bias'],
            stride=PATCH,
        )
        .flatten(2)
        .transpose(1, 2)
    )
    batch = tokens.shape[0]
    cls = params['backbone.cls_token'].expand(batch, -1, -1)
    x = torch.cat([cls, tokens], 1) + params['backbone.pos_embed']
    block0_input, attn0 = x, None
    for i in range(LAYERS):
        pre = f'backbone.layers.{i}'
        qkv = linear(layer_norm(x, params, pre + '.ln1'), params, pre + '.attn.qkv')
        q, k, v = qkv.view(batch, -1, 3, HEADS, DIM // HEADS).permute(2, 0, 3, 1, 4)
        attn = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(DIM // HEADS), dim=-1)
        attn0 = attn if i == 0 else attn0
        mixed = (attn @ v).transpose(1, 2).reshape(batch, -1, DIM)
        x = x + linear(mixed, params, pre + '.attn.proj')
        hidden = F.gelu(
            linear(layer_norm(x, params, pre + '.ln2'), params, pre + '.ffn.layers.0.0')
        )
        x = x + linear(hidden, params, pre + '.ffn.layers.1')
    return layer_norm(x, params, 'backbone.ln1'), x, block0_input, attn0


def soft_ce(logits, target):
    return -(target * torch.log_softmax(logits, -1)).sum(-1)


def unit(x):
    return x / x.norm(dim=-1, keepdim=True)


def rayleigh(m, x):
    m2 = m @ m
    return (x @ m2 @ m @ x) / (x @ m2 @ x)


def reference_objective(params, images, labels, start_vectors, box_mask=None, mixup_lam=None):
    """Points 1-6 in float64 for a CutMix batch (``box_mask``, the
    ``(H, W)`` pixels pasted from the partner) or a Mixup batch
    (``mixup_lam``); returns ``(total, terms)``."""
    batch, grid = images.shape[0], IMG // PATCH
    partner = torch.arange(batch - 1, -1, -1)  # the mirror in the batch
    onehot = F.one_hot(labels, CLASSES).double()
    smooth = onehot * (1.0 - SMOOTH) + SMOOTH / CLASSES  # timm: before mixing
    if box_mask is not None:
        # 6. CutMix in pixels: the box of partner pixels; lam from its area
        mixed = torch.where(box_mask, images[partner], images)
        lam = 1.0 - box_mask.double().mean()
        # a patch's target: the area share of each source inside the patch
        share = box_mask.double().view(grid, PATCH, grid, PATCH).mean((1, 3))
        share = share.flatten().view(1, -1, 1)
        patch_target = (1.0 - share) * smooth[:, None] + share * smooth[partner][:, None]
    else:
        # 6. Mixup: every patch takes the image's mixed target
        lam = mixup_lam
        mixed = lam * images + (1.0 - lam) * images[partner]
        patch_target = (lam * smooth + (1.0 - lam) * smooth[partner])[:, None]
        patch_target = patch_target.expand(-1, grid * grid, -1)
    image_target = lam * smooth + (1.0 - lam) * smooth[partner]

    out, last_pre_norm, block0_input, attn0 = vit_forward(params, mixed)
    n = out.shape[1] - 1
    # 1. all N = n + 1 tokens through the head, mean CE over the N tokens
    logits = linear(out, params, 'head.layers.head')
    token_ce = torch.cat(
        [soft_ce(logits[:, :1], image_target[:, None]), soft_ce(logits[:, 1:], patch_target)], 1
    )
    mix = token_ce.mean(1).mean()
    # 2. signed cosine over all pairs incl. the diagonal, pre-norm tokens
    h = unit(last_pre_norm[:, 1:])
    cos = (torch.einsum('bid,bjd->bij', h, h).sum((1, 2)) / n**2).mean()
    # 3. contrastive: first = patch part of patch_embed + pos_embed (not
    #    detached), last = pre-norm last block output
    f, lst = unit(block0_input[:, 1:]), unit(last_pre_norm[:, 1:])
    sim = torch.einsum('bid,bjd->bij', f, lst)
    positive = sim.diagonal(dim1=1, dim2=2)
    mean_negative = (sim.sum(-1) - positive) / (n - 1)
    contrast = -torch.log(positive.exp() / (positive.exp() + mean_negative.exp()))
    contrast = contrast.mean(1).mean()
    # 4. block 0 attention incl. the class token: mean of the H x H cosines
    maps = unit(attn0.flatten(2))
    attn = torch.einsum('bhk,bgk->bhg', maps, maps).mean((1, 2)).mean()
    # 5. q, k, v of every block: (sigma_max^2 - sigma_min^2)^2 by the
    #    one-step Rayleigh estimates on M = W^T W, then on M - sigma_max^2 I
    weight, index = 0.0, 0
    for i in range(LAYERS):
        for w in params[f'backbone.layers.{i}.attn.qkv.weight'].chunk(3):
            m = w.T @ w
            x1, x2 = start_vectors[index]
            lam_max = rayleigh(m, x1)
            eye = torch.eye(DIM, dtype=m.dtype)
            sigma_min_sq = rayleigh(m - lam_max * eye, x2) + lam_max
            weight = weight + (lam_max - sigma_min_sq) ** 2
            index += 1
    terms = dict(mix=mix, cos=cos, contrast=contrast, attn=attn, weight=weight)
    total = sum(COEF[k] * v for k, v in terms.items())
    return total, terms


# ------------------------------------------------------------- the test
def init_params(model, seed):
    """Every parameter away from its trivial init (zeros, ones)."""
    gen = torch.Generator().manual_seed(seed)
    model.init_weights()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen, dtype=p.dtype))


def batch_of(num, seed):
    gen = torch.Generator().manual_seed(seed)
    images = torch.rand(num, 3, IMG, IMG, generator=gen) * 255
    labels = torch.randint(0, CLASSES, (num,), generator=gen)
    samples = [DataSample().set_gt_label(int(label)) for label in labels]
    return dict(inputs=list(images), data_samples=samples), images, labels


def changed_box(original, mixed):
    """The pasted box as a pixel mask (H, W), checked to be a rectangle."""
    mask = (original != mixed).any(dim=1).any(dim=0)
    rows, cols = mask.any(1).nonzero(), mask.any(0).nonzero()
    y1, y2, x1, x2 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    assert mask[y1:y2, x1:x2].all() and mask.sum() == (y2 - y1) * (x2 - x1)
    return mask, (int(y1), int(y2), int(x1), int(x2))


@pytest.mark.parametrize('augment,batch', [('cutmix', 4), ('cutmix', 3), ('mixup', 4)])
def test_faithful_objective_matches_float64_reference(augment, batch):
    torch.manual_seed(0)
    model = faithful_model(augment).double().train()
    init_params(model, seed=1)
    data, images, labels = batch_of(batch, seed=2)

    # one mixed batch at a fixed lam (a box centre from the seeded RNG)
    lam, mix = 0.62, {}
    np.random.seed(5)
    with mock.patch('numpy.random.beta', return_value=lam):
        data = model.data_preprocessor(data, training=True)
    data['inputs'] = data['inputs'].double()
    if augment == 'cutmix':
        mask, (y1, y2, x1, x2) = changed_box(images, data['inputs'].float())
        # the box is in pixels: it cuts patches (not on the 8 px grid)
        assert any(edge % PATCH for edge in (y1, y2, x1, x2)), (y1, y2, x1, x2)
        mix['box_mask'] = mask
    else:
        mix['mixup_lam'] = lam

    losses = model._run_forward(data, mode='loss')
    total, _ = model.parse_losses(losses)  # the sum of the loss* keys
    total.backward()

    params = {name: p.detach().clone().requires_grad_() for name, p in model.named_parameters()}
    start = torch.rand(
        LAYERS * 3,
        2,
        DIM,
        dtype=torch.float32,
        generator=torch.Generator().manual_seed(WEIGHT_SEED),
    )
    ref_total, terms = reference_objective(params, images.double(), labels, start.double(), **mix)
    names = list(params)
    ref_grads = dict(zip(names, torch.autograd.grad(ref_total, [params[k] for k in names])))

    # term by term first (a failure names the term), then the total; the
    # batch augment's inputs and targets are float32: ~1e-7 relative
    mix_keys = [k for k in ('loss_cls', 'loss_patch_mix') if k in losses]
    expected = {
        'mix': (sum(losses[k] for k in mix_keys), COEF['mix'] * terms['mix']),
        'cos': (losses['loss_patch_cos'], COEF['cos'] * terms['cos']),
        'contrast': (losses['loss_patch_contrast'], COEF['contrast'] * terms['contrast']),
        'attn': (losses['loss_attn_div'], COEF['attn'] * terms['attn']),
        'weight': (losses['loss_weight_cond'], COEF['weight'] * terms['weight']),
    }
    for term, (ours, ref) in expected.items():
        torch.testing.assert_close(
            ours.double(), ref, rtol=1e-6, atol=0, msg=lambda m, term=term: f'term {term}: {m}'
        )
    torch.testing.assert_close(total, ref_total, rtol=1e-6, atol=0)
    for name, p in model.named_parameters():
        torch.testing.assert_close(
            p.grad,
            ref_grads[name],
            rtol=1e-5,
            atol=1e-8,
            msg=lambda m, name=name: f'gradient of {name}: {m}',
        )
