"""DiverseImageClassifier (mmdiverse/models/classifiers/image.py) on tiny
ViT / Swin / CNN / timm models."""

import copy

import numpy as np
import pytest
import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import DefaultScope
from mmpretrain.models.utils import ClsDataPreprocessor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmdiverse  # noqa: F401
from mmdiverse.models.batch_augments import PatchClsDataPreprocessor
from mmdiverse.models.losses import PatchMixingLoss
from tests.helpers.configs import diversity_terms
from tests.helpers.tiny_classifier import LOSS_KEYS


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    """Build with mmpretrain's registries whatever scope other tests set."""
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


NUM_CLASSES = 4
VIT_ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
ALL_TERMS = diversity_terms()  # configs/pretrain/_base_/diversity.py
CNN_TERMS = {k: ALL_TERMS[k] for k in ('patch_cos', 'patch_contrast', 'patch_mix')}


def augments(patch_size, probs=None):
    return dict(
        augments=[
            dict(type='Mixup', alpha=0.8),
            dict(type='PatchCutMix', alpha=1.0, patch_size=patch_size),
        ],
        probs=probs,
    )


def linear_head(in_channels):
    return dict(
        type='LinearClsHead',
        num_classes=NUM_CLASSES,
        in_channels=in_channels,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
    )


def vit_cfg(diversity=None, patch_probs=None, **kwargs):
    cfg = dict(
        type='DiverseImageClassifier',
        data_preprocessor=dict(num_classes=NUM_CLASSES),
        backbone=dict(
            type='VisionTransformer', arch=VIT_ARCH, img_size=32, patch_size=8, drop_path_rate=0.0
        ),
        neck=None,
        head=dict(
            type='VisionTransformerClsHead',
            num_classes=NUM_CLASSES,
            in_channels=32,
            loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        ),
        train_cfg=augments(8, patch_probs),
    )
    cfg.update(kwargs)
    if cfg['type'] == 'DiverseImageClassifier':
        cfg['diversity'] = diversity
    return cfg


def swin_cfg(diversity):
    return dict(
        type='DiverseImageClassifier',
        data_preprocessor=dict(num_classes=NUM_CLASSES),
        backbone=dict(
            type='SwinTransformer',
            arch=dict(embed_dims=16, depths=[2, 2], num_heads=[2, 2]),
            img_size=32,
            window_size=2,
            out_indices=(1,),
            drop_path_rate=0.0,
        ),
        neck=dict(type='GlobalAveragePooling'),
        head=linear_head(32),
        diversity=diversity,
        train_cfg=augments(8),
    )  # last-stage stride of this 2-stage Swin


def cnn_cfg(diversity):
    return dict(
        type='DiverseImageClassifier',
        data_preprocessor=dict(num_classes=NUM_CLASSES),
        backbone=dict(type='ResNet', depth=18, stem_channels=8, base_channels=8),
        neck=dict(type='GlobalAveragePooling'),
        head=linear_head(64),
        diversity=diversity,
        train_cfg=augments(32),
    )


def timm_cfg(diversity):
    return dict(
        type='DiverseImageClassifier',
        data_preprocessor=dict(num_classes=NUM_CLASSES),
        backbone=dict(
            type='TIMMBackbone',
            model_name='vit_tiny_patch16_224',
            img_size=32,
            patch_size=8,
            embed_dim=32,
            depth=2,
            num_heads=2,
        ),
        neck=dict(type='TokenPoolNeck'),
        head=linear_head(32),
        diversity=diversity,
        train_cfg=augments(8),
    )


CASES = {
    'vit': (
        lambda: vit_cfg(dict(ALL_TERMS, tap=dict(first_layer=0, attn_layers=(0,)))),
        32,
        LOSS_KEYS,
    ),
    'swin': (lambda: swin_cfg(dict(ALL_TERMS, tap=dict(attn_layers=(0, 3)))), 32, LOSS_KEYS),
    'cnn': (lambda: cnn_cfg(dict(CNN_TERMS)), 64, LOSS_KEYS[:3]),
    'timm': (lambda: timm_cfg(dict(ALL_TERMS)), 32, LOSS_KEYS),
}


def make_data(batch, size, seed=0):
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(batch) % NUM_CLASSES
    return dict(
        inputs=torch.rand(batch, 3, size, size, generator=gen),
        data_samples=[DataSample().set_gt_label(int(c)) for c in labels],
    )


def build(name):
    if name == 'timm':
        pytest.importorskip('timm')
    cfg, size, keys = CASES[name]
    torch.manual_seed(0)
    return MODELS.build(cfg()), size, keys


@pytest.mark.parametrize('name', list(CASES))
def test_trains_a_few_iterations_with_all_terms(name):
    np.random.seed(0)
    model, size, keys = build(name)
    assert isinstance(model.data_preprocessor, PatchClsDataPreprocessor)
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
    model.train()
    patch_mixed = []
    for step in range(4):
        data = model.data_preprocessor(make_data(5, size, seed=step), training=True)
        patch_mixed.append('patch_targets' in data)
        total, log_vars = model.parse_losses(model(**data, mode='loss'))
        optim.update_params(total)
        for key in ('loss', 'loss_cls', 'patch_cos_sim') + keys:
            assert key in log_vars, key
            assert np.isfinite(float(log_vars[key])), key
        assert set(log_vars) - {'loss', 'loss_cls', 'patch_cos_sim', *keys} <= {'accuracy_top-1'}
    assert any(patch_mixed) and not all(patch_mixed)  # PatchCutMix and Mixup batches
    # the regularizers leave no hook or patched attribute behind
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_logged_loss_is_the_optimized_total():
    """mmengine logs the sum of the loss terms as ``loss``; the head's own
    ``loss`` key used to overwrite it (issue 13, item 4)."""
    np.random.seed(0)
    model, size, keys = build('vit')
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
    model.train()
    log_vars = model.train_step(make_data(4, size), optim)
    terms = {k: float(v) for k, v in log_vars.items() if k.startswith('loss_')}
    assert set(terms) == {'loss_cls', *keys}
    assert float(log_vars['loss']) == pytest.approx(sum(terms.values()), rel=1e-6)
    assert float(log_vars['loss']) > terms['loss_cls'] + 0.1  # the terms are not 0


@pytest.mark.parametrize('name', list(CASES))
def test_every_term_reaches_the_backbone(name):
    model, size, keys = build(name)
    model.train()
    data = model.data_preprocessor(make_data(4, size), training=True)
    losses = model(**data, mode='loss')
    assert not losses['patch_cos_sim'].requires_grad
    params = [p for p in model.backbone.parameters() if p.requires_grad]
    for key in keys:
        grads = torch.autograd.grad(losses[key], params, retain_graph=True, allow_unused=True)
        total = sum(g.abs().sum() for g in grads if g is not None)
        assert total > 0, f'{key} does not reach the backbone'


def test_attention_and_weight_terms_reach_their_blocks():
    model, size, _ = build('vit')
    data = model.data_preprocessor(make_data(4, size), training=True)
    losses = model(**data, mode='loss')
    qkv0 = model.backbone.layers[0].attn.qkv.weight
    qkv1 = model.backbone.layers[1].attn.qkv.weight
    g0, g1 = torch.autograd.grad(
        losses['loss_attn_div'], [qkv0, qkv1], retain_graph=True, allow_unused=True
    )
    assert g0.abs().sum() > 0 and (g1 is None or g1.abs().sum() == 0)
    g0, g1 = torch.autograd.grad(losses['loss_weight_cond'], [qkv0, qkv1])
    assert g0.abs().sum() > 0 and g1.abs().sum() > 0


def test_without_diversity_it_is_image_classifier():
    torch.manual_seed(0)
    plain = MODELS.build(vit_cfg(type='ImageClassifier'))
    diverse = MODELS.build(vit_cfg())
    diverse.load_state_dict(plain.state_dict())
    assert type(diverse.data_preprocessor) is ClsDataPreprocessor
    assert diverse.diversity is None
    data = plain.data_preprocessor(make_data(3, 32), training=False)
    for mode in ('loss', 'tensor'):
        a = plain(**copy.deepcopy(data), mode=mode)
        b = diverse(**copy.deepcopy(data), mode=mode)
        a = a['loss'] if mode == 'loss' else a
        b = b['loss'] if mode == 'loss' else b
        torch.testing.assert_close(a, b)


def test_inference_is_unchanged_and_hook_free():
    torch.manual_seed(0)
    plain = MODELS.build(vit_cfg(type='ImageClassifier')).eval()
    diverse = MODELS.build(vit_cfg(dict(ALL_TERMS))).eval()
    diverse.load_state_dict(plain.state_dict())
    inputs = make_data(3, 32)['inputs']
    with torch.no_grad():
        torch.testing.assert_close(diverse(inputs), plain(inputs))
        pred = diverse.predict(inputs)
    torch.testing.assert_close(
        torch.stack([p.pred_score for p in pred]),
        torch.stack([p.pred_score for p in plain.predict(inputs)]),
    )
    sdpa = torch.nn.functional.scaled_dot_product_attention
    assert all(layer.attn.scaled_dot_product_attention is sdpa for layer in diverse.backbone.layers)


def force(model, augment):
    """Make the preprocessor choose ``augment`` (0: Mixup, 1: PatchCutMix)."""
    model.data_preprocessor.batch_augments.probs = [float(augment == 0), float(augment == 1)]
    return model


def post_norm_tokens(model, inputs):
    """``(B, N, d)`` backbone tokens after the final norm, class token first."""
    captured = {}
    handle = model.backbone.ln1.register_forward_hook(
        lambda module, args, out: captured.setdefault('tokens', out)
    )
    try:
        model.backbone(inputs)
    finally:
        handle.remove()
    return captured['tokens']


def reference_patch_mix(model, data, targets, weight=1.0):
    """``PatchMixingLoss`` of the post-norm patch tokens through the head's
    last layer, on label-smoothed ``targets`` (the head's 0.1)."""
    logits = model.head.layers.head(post_norm_tokens(model, data['inputs'])[:, 1:])
    return PatchMixingLoss(weight)(logits, targets * 0.9 + 0.1 / NUM_CLASSES)


def test_patch_targets_reach_the_loss_as_an_argument():
    np.random.seed(3)
    model = force(MODELS.build(vit_cfg(dict(patch_mix=ALL_TERMS['patch_mix']))), 1)
    data = model.data_preprocessor(make_data(3, 32), training=True)
    targets = data['patch_targets']
    assert targets.shape == (3, 16, NUM_CLASSES)
    assert 'gt_patch_score' not in data['data_samples'][0]  # no per-sample copies
    assert not (targets == targets[:, :1]).all()  # the box mixed two images
    losses = model(**data, mode='loss')
    torch.testing.assert_close(losses['loss_patch_mix'], reference_patch_mix(model, data, targets))
    # the argument, not anything kept elsewhere, is what the loss reads
    flipped = targets.flip(1)
    losses = model.loss(data['inputs'], data['data_samples'], patch_targets=flipped)
    torch.testing.assert_close(losses['loss_patch_mix'], reference_patch_mix(model, data, flipped))


def test_mixup_batch_trains_every_patch_on_the_image_score():
    np.random.seed(0)
    model = force(MODELS.build(vit_cfg(dict(patch_mix=ALL_TERMS['patch_mix']))), 0)
    data = model.data_preprocessor(make_data(3, 32), training=True)
    assert 'patch_targets' not in data
    scores = torch.stack([s.gt_score for s in data['data_samples']])
    losses = model(**data, mode='loss')
    expected = reference_patch_mix(model, data, scores.unsqueeze(1).expand(-1, 16, -1))
    torch.testing.assert_close(losses['loss_patch_mix'], expected)


def test_token_mean_composition_is_the_mean_over_all_tokens():
    """``composition='token_mean'`` (Diverse-ViT): loss_cls + loss_patch_mix =
    w (CE_cls + sum_i CE_i) / (n + 1) over the N = n + 1 post-norm tokens,
    every token through the same linear head."""
    weight = 0.7
    np.random.seed(1)
    model = force(
        MODELS.build(
            vit_cfg(
                dict(
                    patch_mix=dict(
                        type='PatchMixingLoss', loss_weight=weight, composition='token_mean'
                    )
                )
            )
        ),
        1,
    )
    data = model.data_preprocessor(make_data(4, 32), training=True)
    losses = model(**data, mode='loss')

    logits = model.head.layers.head(post_norm_tokens(model, data['inputs'])).double()  # (B, N, K)
    image = torch.stack([s.gt_score for s in data['data_samples']]).double()
    targets = torch.cat([image.unsqueeze(1), data['patch_targets'].double()], 1)
    targets = targets * 0.9 + 0.1 / NUM_CLASSES
    per_token = -(targets * logits.log_softmax(-1)).sum(-1)  # (B, N)
    expected = weight * per_token.mean(1).mean(0)
    total = losses['loss_cls'] + losses['loss_patch_mix']
    torch.testing.assert_close(total.double(), expected, rtol=1e-5, atol=1e-6)
    # the class token's share is in loss_cls, the patches' in loss_patch_mix
    torch.testing.assert_close(
        losses['loss_cls'].double(), weight * per_token[:, 0].mean() / 17, rtol=1e-5, atol=1e-6
    )
    # with the term warmed down to 0 the loss is the plain class-token CE
    model.diversity.set_term_scale('patch_mix', 0.0)
    losses = model(**data, mode='loss')
    torch.testing.assert_close(
        losses['loss_cls'].double(), per_token[:, 0].mean(), rtol=1e-5, atol=1e-6
    )
    assert float(losses['loss_patch_mix']) == 0


def test_separate_composition_keeps_the_head_loss():
    np.random.seed(1)
    torch.manual_seed(0)
    model = force(MODELS.build(vit_cfg(dict(patch_mix=ALL_TERMS['patch_mix']))), 1)
    plain = MODELS.build(vit_cfg(type='ImageClassifier'))
    plain.load_state_dict(model.state_dict(), strict=False)
    data = model.data_preprocessor(make_data(4, 32), training=True)
    head_loss = plain.loss(data['inputs'], data['data_samples'])['loss']
    torch.testing.assert_close(model(**data, mode='loss')['loss_cls'], head_loss)


@pytest.mark.parametrize(
    'patch_size,match',
    [
        (
            16,
            r'train_cfg\.augments\[1\]\.patch_size=\(16, 16\): diversity\.patch_mix .* 8x8 px '
            r'stride in VisionTransformer; set patch_size=8',
        ),
        (12, r'train_cfg\.augments\[1\]\.patch_size=\(12, 12\) does not divide the 32x32 input'),
    ],
)
def test_patch_cutmix_that_misses_the_token_grid_fails_at_build_time(patch_size, match):
    cfg = vit_cfg(dict(patch_mix=ALL_TERMS['patch_mix']))
    cfg['train_cfg'] = augments(patch_size)
    with pytest.raises(ValueError, match=match):
        MODELS.build(cfg)


@pytest.mark.parametrize('cfg_fn,stride', [(swin_cfg, 8), (timm_cfg, 8)])
def test_patch_cutmix_is_checked_against_swin_and_timm_strides(cfg_fn, stride):
    model = MODELS.build(cfg_fn(dict(patch_mix=ALL_TERMS['patch_mix'])))
    assert model.tap.token_stride() == (stride, stride)
    assert model.data_preprocessor.batch_augments.augments[1].patch_size == (stride, stride)
    cfg = cfg_fn(dict(patch_mix=ALL_TERMS['patch_mix']))
    cfg['train_cfg'] = augments(2 * stride)
    with pytest.raises(ValueError, match=f'set patch_size={stride}'):
        MODELS.build(cfg)


def test_coarser_patch_cutmix_is_allowed_without_the_mixing_term():
    cfg = vit_cfg(dict(patch_cos=ALL_TERMS['patch_cos']))
    cfg['train_cfg'] = augments(16, probs=[0.0, 1.0])  # boxes of 2x2 tokens: an aligned CutMix
    model = MODELS.build(cfg)
    data = model.data_preprocessor(make_data(2, 32), training=True)
    assert data['patch_targets'].shape == (2, 4, NUM_CLASSES)  # a 2x2 grid of 16 px
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_cls', 'loss_patch_cos', 'patch_cos_sim'}


def test_patch_mixing_needs_the_patch_preprocessor():
    from mmpretrain.models.utils import ClsDataPreprocessor as Stock

    @MODELS.register_module(force=True)
    class CustomPreprocessor(Stock):
        pass

    cfg = vit_cfg(
        dict(patch_mix=ALL_TERMS['patch_mix']),
        data_preprocessor=dict(type='CustomPreprocessor', num_classes=NUM_CLASSES),
    )
    with pytest.raises(
        ValueError,
        match=r'augments\[1\] \(PatchCutMix\) with diversity\.patch_mix '
        r'needs data_preprocessor PatchClsDataPreprocessor',
    ):
        MODELS.build(cfg)


def test_cnn_patch_cutmix_is_checked_against_the_probed_stride():
    """A CNN states no stride; one probe pass at build time measures it."""
    cfg = cnn_cfg(dict(patch_mix=ALL_TERMS['patch_mix']))
    cfg['train_cfg'] = augments(16, probs=[0.0, 1.0])
    with pytest.raises(ValueError, match=r'32x32 px stride in ResNet; set patch_size=32'):
        MODELS.build(cfg)


def test_build_time_probe_leaves_rng_and_bn_statistics_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    model = MODELS.build(
        cnn_cfg(dict(patch_contrast=ALL_TERMS['patch_contrast'], tap=dict(first_layer='layer4.1')))
    )
    bn = model.backbone.layer4[1].bn1
    assert int(bn.num_batches_tracked) == 0 and bool((bn.running_mean == 0).all())
    assert model.training and model.backbone.training
    # MODELS.build drew the initial weights from the stream; the probe drew nothing more.
    torch.manual_seed(0)
    MODELS.build(cnn_cfg(dict(patch_cos=ALL_TERMS['patch_cos'])))
    after_plain = torch.rand(3)
    torch.manual_seed(0)
    MODELS.build(
        cnn_cfg(dict(patch_contrast=ALL_TERMS['patch_contrast'], tap=dict(first_layer='layer4.1')))
    )
    torch.testing.assert_close(torch.rand(3), after_plain)
    assert not torch.equal(after_plain, expected)


@pytest.mark.parametrize(
    'cfg_fn,terms,match',
    [
        (cnn_cfg, dict(attn_div=ALL_TERMS['attn_div']), 'diversity.attn_div'),
        (cnn_cfg, dict(weight_cond=ALL_TERMS['weight_cond']), 'diversity.weight_cond'),
        (vit_cfg, dict(patch_cosine=ALL_TERMS['patch_cos']), 'unknown keys'),
        (
            vit_cfg,
            dict(tap=dict(first_layer=9), **ALL_TERMS),
            r'diversity\.tap\.first_layer=9 .*layers\.0, layers\.1',
        ),
        (vit_cfg, dict(tap=dict(attn_layers=('layers.4',)), **ALL_TERMS), 'layers.0, layers.1'),
        (swin_cfg, dict(tap=dict(first_layer=0), **ALL_TERMS), 'diversity.patch_contrast'),
    ],
)
def test_build_time_errors(cfg_fn, terms, match):
    with pytest.raises(ValueError, match=match):
        MODELS.build(cfg_fn(terms))


def test_patch_mix_rejects_a_learned_neck():
    cfg = cnn_cfg(dict(patch_mix=ALL_TERMS['patch_mix']))
    cfg['neck'] = dict(type='LinearNeck', in_channels=64, out_channels=64)
    cfg['head'] = linear_head(64)
    with pytest.raises(ValueError, match='parameter-free neck'):
        MODELS.build(cfg)


def test_cnn_contrast_width_mismatch_fails_at_build_time():
    cfg = cnn_cfg(
        dict(patch_contrast=ALL_TERMS['patch_contrast'], tap=dict(first_layer='layer4.0'))
    )
    with pytest.raises(
        ValueError,
        match=r"diversity\.patch_contrast: the first tap 'layer4\.0' "
        r'\(diversity\.tap\.first_layer\) has width 32 but the '
        r'last tokens have width 64',
    ):
        MODELS.build(cfg)


def test_unknown_regularizer_type_names_the_config_key():
    from mmengine.config import Config

    from mmdiverse.apis import build_model

    cfg = Config.fromfile('configs/demo/vit_tiny_shapes_diverse.py')
    cfg.model.diversity.patch_cos = dict(type='PatchCosLoss', loss_weight=0.5)
    with pytest.raises(KeyError, match=r'diversity\.patch_cos=.*PatchCosLoss'):
        build_model(cfg)


def test_an_augment_that_moves_pixels_without_patch_targets_is_refused_with_patch_mix():
    """A stock CutMix batch would train every patch on the image's mixed score
    (issue 20.3): refused at build time, naming the augment."""
    cfg = vit_cfg(dict(patch_mix=ALL_TERMS['patch_mix']))
    cfg['train_cfg'] = dict(
        augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]
    )
    with pytest.raises(
        ValueError,
        match=r'train_cfg\.augments\[1\] \(CutMix\) moves pixels '
        r'between images but gives no per-patch targets',
    ):
        MODELS.build(cfg)
    cfg['diversity'] = dict(patch_cos=ALL_TERMS['patch_cos'])  # fine without the term
    MODELS.build(cfg)


def test_a_patch_cutmix_batch_that_lost_its_targets_names_the_augment():
    np.random.seed(3)
    model = force(MODELS.build(vit_cfg(dict(patch_mix=ALL_TERMS['patch_mix']))), 1)
    data = model.data_preprocessor(make_data(3, 32), training=True)
    assert data['data_samples'][0].batch_augment == 'PatchCutMix'
    data.pop('patch_targets')
    with pytest.raises(ValueError, match=r'mixed by PatchCutMix.*no per-patch targets'):
        model(**data, mode='loss')
