"""DiverseMAE (mmdiverse/models/selfsup/mae.py): the label-free terms read
exactly the encoder's visible tokens; the reconstruction loss is mmpretrain's."""

import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS

import mmdiverse  # noqa: F401
from mmdiverse.models.taps import MAEViTTap
from tests.helpers.tiny_selfsup import LABEL_FREE_TERMS, tiny_mae_cfg


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


def build(diversity=None, model_type='DiverseMAE'):
    torch.manual_seed(0)
    return MODELS.build(tiny_mae_cfg(diversity, model_type))


def visible_tokens_by_hand(model, inputs, ids_restore):
    """First (patch embedding + position, gathered as MAE keeps them) and
    last (the encoder output after its norm) visible tokens."""
    backbone = model.backbone
    keep = torch.argsort(ids_restore, dim=1)[:, :4]  # 16 * (1 - 0.75)
    embedded = backbone.patch_embed(inputs)[0] + backbone.pos_embed[:, 1:]
    first = embedded.gather(1, keep.unsqueeze(-1).expand(-1, -1, embedded.shape[-1]))
    return first


def test_terms_are_the_hand_computed_losses_on_the_visible_tokens():
    model = build(dict(LABEL_FREE_TERMS, tap=dict(attn_layers=(1,))))
    assert isinstance(model.tap, MAEViTTap)
    inputs = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(5)
    losses = model.loss(inputs, [])
    torch.manual_seed(5)  # the same random masking
    latent, mask, ids_restore = model.backbone(inputs)
    assert latent.shape == (2, 5, 32)  # class token + 4 visible
    last = latent[:, 1:].double()  # never mask / decoder tokens
    first = visible_tokens_by_hand(model, inputs, ids_restore).double()
    ln = F.normalize(last, dim=-1)
    cos = ln @ ln.transpose(1, 2)  # (B, 4, 4)
    off_diagonal = ~torch.eye(4, dtype=torch.bool)
    expected_cos = cos.abs()[:, off_diagonal].mean()
    torch.testing.assert_close(losses['loss_patch_cos'].double(), expected_cos)
    s = F.normalize(first, dim=-1) @ ln.transpose(1, 2)  # s_ij = f_i . l_j
    diag = s.diagonal(dim1=1, dim2=2)
    m = (s.sum(-1) - diag) / 3
    expected_contrast = F.softplus(m - diag).mean()
    torch.testing.assert_close(losses['loss_patch_contrast'].double(), expected_contrast)
    # the reconstruction is mmpretrain's own MAE loss on the same masking
    stock = build(model_type='MAE')
    stock.load_state_dict(model.state_dict(), strict=False)  # the terms' buffers are extra
    torch.manual_seed(5)
    torch.testing.assert_close(losses['loss_rec'], stock.loss(inputs, [])['loss'])
    assert set(losses) == {
        'loss_rec',
        'loss_patch_cos',
        'loss_patch_contrast',
        'loss_attn_div',
        'loss_weight_cond',
        'patch_cos_sim',
    }


def test_attention_is_the_chosen_encoder_block_over_the_visible_tokens():
    model = build(dict(attn_div=LABEL_FREE_TERMS['attn_div'], tap=dict(attn_layers=(1,))))
    with model.diversity.capture() as captured:
        model.backbone(torch.rand(3, 3, 32, 32))
    assert captured.attn[1].shape == (3, 2, 5, 5)  # heads x (1 + 4 visible)^2
    assert captured.first_hw is None and captured.last_hw is None  # not a grid
    # without masking (extract_feat) the tap reads the full 4x4 grid
    with model.tap.capture() as captured:
        model.extract_feat(torch.rand(1, 3, 32, 32))
    assert captured.last.shape == (1, 16, 32) and captured.last_hw == (4, 4)


def test_logged_loss_is_the_optimized_total_and_terms_train_the_encoder():
    model = build(dict(LABEL_FREE_TERMS))
    model.train()
    losses = model(torch.rand(2, 3, 32, 32), [], mode='loss')
    total, log_vars = model.parse_losses(losses)
    terms = [v for k, v in losses.items() if k.startswith('loss')]
    torch.testing.assert_close(total, sum(terms))
    params = [p for p in model.backbone.parameters() if p.requires_grad]
    for key in ('loss_patch_cos', 'loss_patch_contrast', 'loss_attn_div', 'loss_weight_cond'):
        grads = torch.autograd.grad(losses[key], params, retain_graph=True, allow_unused=True)
        assert sum(g.abs().sum() for g in grads if g is not None) > 0, key
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_without_diversity_it_is_mae():
    model, stock = build(), build(model_type='MAE')
    inputs = torch.rand(2, 3, 32, 32)
    torch.manual_seed(2)
    a = model.loss(inputs, [])
    torch.manual_seed(2)
    b = stock.loss(inputs, [])
    assert set(a) == {'loss'} and torch.equal(a['loss'], b['loss'])


@pytest.mark.parametrize(
    'diversity,match',
    [
        (
            dict(patch_mix=dict(type='PatchMixingLoss')),
            r'model\.diversity\.patch_mix is not supported .*classifier head on labels',
        ),
        (
            dict(patch_cos=dict(type='PatchCosineLoss', loss_weight=float('nan'))),
            r'model\.diversity\.patch_cos\.loss_weight=nan',
        ),
        (dict(patch_cosine=dict(type='PatchCosineLoss')), r'model\.diversity: unknown keys'),
    ],
)
def test_build_time_refusals_name_the_key(diversity, match):
    with pytest.raises(ValueError, match=match):
        MODELS.build(tiny_mae_cfg(diversity))
