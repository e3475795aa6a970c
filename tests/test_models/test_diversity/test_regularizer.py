"""DiversityRegularizer on a tiny ViT: each term is its loss on the tensors
the table says it reads; build-time refusals name the config key."""

import pytest
import torch
from mmengine.registry import DefaultScope
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.registry import MODELS

import mmdiverse  # noqa: F401
from mmdiverse.models.diversity import DIAG_KEY, TERMS, DiversityRegularizer
from mmdiverse.models.losses import (
    AttentionDiversityLoss,
    PatchContrastiveLoss,
    PatchCosineLoss,
    WeightConditionLoss,
    patch_cosine_similarity,
)
from tests.helpers.configs import diversity_terms

#: configs/pretrain/_base_/diversity.py's terms but patch mixing.
TERM_CFGS = {k: v for k, v in diversity_terms().items() if k != 'patch_mix'}


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


def tiny_vit():
    torch.manual_seed(0)
    return VisionTransformer(
        arch=dict(embed_dims=16, num_layers=2, num_heads=2, feedforward_channels=32),
        img_size=32,
        patch_size=8,
        drop_path_rate=0.0,
    )


def run(reg, backbone, seed=0):
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(seed))
    with reg.capture() as captured:
        backbone(images)
    return captured, reg.compute(captured)


def block_output(backbone, images):
    """The last block's patch tokens before the final norm."""
    out = {}
    handle = backbone.layers[-1].register_forward_hook(
        lambda module, args, output: out.setdefault('x', output[:, 1:])
    )
    try:
        backbone(images)
    finally:
        handle.remove()
    return out['x']


def test_each_term_is_its_loss_on_the_captured_tensors():
    backbone = tiny_vit()
    reg = DiversityRegularizer(backbone, dict(TERM_CFGS, tap=dict(attn_layers=(0, 1))))
    captured, losses = run(reg, backbone)
    assert list(losses) == [
        'loss_patch_cos',
        'loss_patch_contrast',
        'loss_attn_div',
        'loss_weight_cond',
        DIAG_KEY,
    ]
    torch.testing.assert_close(
        losses['loss_patch_cos'], PatchCosineLoss(loss_weight=0.5)(captured.last)
    )
    torch.testing.assert_close(
        losses['loss_patch_contrast'],
        PatchContrastiveLoss(loss_weight=0.5)(
            captured.first, captured.last, captured.first_hw, captured.last_hw
        ),
    )
    attn = AttentionDiversityLoss(loss_weight=1e-4)
    torch.testing.assert_close(
        losses['loss_attn_div'], (attn(captured.attn[0]) + attn(captured.attn[1])) / 2
    )
    weights = [
        layer.attn.qkv.weight[i * 16 : (i + 1) * 16] for layer in backbone.layers for i in range(3)
    ]
    expected = WeightConditionLoss(loss_weight=5e-4)(weights)
    torch.testing.assert_close(losses['loss_weight_cond'], expected, rtol=1e-3, atol=1e-7)
    torch.testing.assert_close(losses[DIAG_KEY], patch_cosine_similarity(captured.last.detach()))
    assert not losses[DIAG_KEY].requires_grad


def test_pre_norm_similarity_tokens_feed_cosine_and_contrastive():
    backbone = tiny_vit()
    reg = DiversityRegularizer(
        backbone,
        dict(
            patch_cos=TERM_CFGS['patch_cos'],
            patch_contrast=TERM_CFGS['patch_contrast'],
            tap=dict(similarity_tokens='pre_norm'),
        ),
    )
    captured, losses = run(reg, backbone)
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    before_norm = block_output(backbone, images)
    torch.testing.assert_close(
        losses['loss_patch_cos'], PatchCosineLoss(loss_weight=0.5)(before_norm)
    )
    torch.testing.assert_close(
        losses['loss_patch_contrast'],
        PatchContrastiveLoss(loss_weight=0.5)(captured.first, before_norm, (4, 4), (4, 4)),
    )
    post = PatchCosineLoss(loss_weight=0.5)(captured.last)
    assert not torch.allclose(losses['loss_patch_cos'], post)
    # the diagnostic keeps reading the post-norm tokens
    torch.testing.assert_close(losses[DIAG_KEY], patch_cosine_similarity(captured.last.detach()))


def test_unknown_similarity_tokens_name_the_key():
    with pytest.raises(ValueError, match=r'diversity\.tap\.similarity_tokens'):
        DiversityRegularizer(
            tiny_vit(),
            dict(patch_cos=TERM_CFGS['patch_cos'], tap=dict(similarity_tokens='prenorm')),
        )


@pytest.mark.parametrize('term', TERMS)
def test_negative_loss_weight_is_refused_naming_the_key(term):
    cfg = {
        term: dict(
            type=dict(TERM_CFGS, patch_mix=dict(type='PatchMixingLoss'))[term]['type'],
            loss_weight=-0.1,
        )
    }
    with pytest.raises(ValueError, match=rf'diversity\.{term}\.loss_weight=-0\.1 is negative'):
        DiversityRegularizer(tiny_vit(), cfg)


@pytest.mark.parametrize('weight', [float('nan'), float('inf'), float('-inf')])
@pytest.mark.parametrize('term', TERMS)
def test_non_finite_loss_weight_is_refused_naming_the_key(term, weight):
    """``nan < 0`` is False: a nan weight used to pass and stop at iteration 1
    (issue 21.7)."""
    loss_type = dict(TERM_CFGS, patch_mix=dict(type='PatchMixingLoss'))[term]['type']
    with pytest.raises(
        ValueError,
        match=rf'diversity\.{term}\.loss_weight={weight} is not a '
        'finite number',
    ):
        DiversityRegularizer(tiny_vit(), {term: dict(type=loss_type, loss_weight=weight)})
    with pytest.raises(ValueError, match=rf'model\.diversity\.{term}\.loss_weight'):
        built = MODELS.build(dict(type=loss_type, loss_weight=weight))
        DiversityRegularizer(tiny_vit(), {term: built}, cfg_key='model.diversity')


def test_negative_weight_of_a_built_module_and_zero_weight():
    with pytest.raises(ValueError, match=r'model\.diversity\.patch_cos\.loss_weight'):
        DiversityRegularizer(
            tiny_vit(), dict(patch_cos=PatchCosineLoss(loss_weight=-1.0)), cfg_key='model.diversity'
        )
    reg = DiversityRegularizer(
        tiny_vit(), dict(patch_cos=dict(type='PatchCosineLoss', loss_weight=0.0))
    )
    assert reg.terms == ('patch_cos',)


def test_term_scales_multiply_and_zero_skips():
    backbone = tiny_vit()
    reg = DiversityRegularizer(backbone, dict(patch_cos=TERM_CFGS['patch_cos']))
    _, full = run(reg, backbone)
    reg.set_term_scale('all', 0.5)
    _, half = run(reg, backbone)
    torch.testing.assert_close(half['loss_patch_cos'], 0.5 * full['loss_patch_cos'])
    reg.set_term_scale('patch_cos', 0.0)
    _, off = run(reg, backbone)
    assert float(off['loss_patch_cos']) == 0 and not off['loss_patch_cos'].requires_grad
    with pytest.raises(KeyError, match=r'diversity\.attn_div is not configured'):
        reg.set_term_scale('attn_div', 1.0)


def test_config_errors():
    with pytest.raises(ValueError, match='unknown keys'):
        DiversityRegularizer(tiny_vit(), dict(patch_cosine=TERM_CFGS['patch_cos']))
    with pytest.raises(ValueError, match=r'diversity\.patch_mix is not supported'):
        DiversityRegularizer(
            tiny_vit(), dict(patch_mix=dict(type='PatchMixingLoss')), supported_terms=('patch_cos',)
        )
    with pytest.raises(KeyError, match=r'diversity\.patch_cos=.*PatchCosLoss'):
        DiversityRegularizer(tiny_vit(), dict(patch_cos=dict(type='PatchCosLoss')))


def test_patch_mix_needs_a_classifier_head_at_build_time():
    with pytest.raises(
        ValueError,
        match=r'diversity\.patch_mix needs a head with a final '
        r'linear layer',
    ):
        DiversityRegularizer(tiny_vit(), dict(patch_mix=dict(type='PatchMixingLoss')))
