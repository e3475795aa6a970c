"""TokenTap: what mmpretrain ViT / DeiT and timm ViT share."""

import pytest
import torch

from mmdiverse.models.taps import TokenTap, build_tap
from tests.helpers.tiny_backbones import images, tiny_deit, tiny_timm_vit, tiny_vit

# (backbone factory, number of leading class / distillation tokens)
TOKEN_BACKBONES = [(tiny_vit, 1), (tiny_deit, 2), (tiny_timm_vit, 1)]


@pytest.mark.parametrize('make,prefix', TOKEN_BACKBONES)
def test_pre_norm_tokens_are_the_last_block_output_before_the_final_norm(make, prefix):
    backbone = make()
    tap = build_tap(backbone)
    assert isinstance(tap, TokenTap) and tap.num_prefix_tokens == prefix
    with tap.capture(pre_norm=True, per_layer=True) as out:
        backbone(images())
    pre = out.last_pre_norm
    assert pre.shape == (2, 16, 32) and out.last_hw == (4, 4)
    # the last block's output, patch part ...
    torch.testing.assert_close(pre, out.per_layer[len(tap.layer_names) - 1])
    # ... which the backbone's final norm turns into ``last``
    torch.testing.assert_close(tap.final_norm()(pre), out.last)
    assert not torch.allclose(pre, out.last)


def test_pre_norm_equals_the_stock_output_without_a_final_norm():
    backbone = tiny_vit(out_type='raw', final_norm=False)
    tap = build_tap(backbone)
    assert tap.final_norm() is None
    with tap.capture(pre_norm=True) as out:
        raw = backbone(images())[-1]
    torch.testing.assert_close(out.last_pre_norm, raw[:, 1:])
    torch.testing.assert_close(out.last, raw[:, 1:])


@pytest.mark.parametrize('make,prefix', TOKEN_BACKBONES)
def test_pre_norm_keeps_the_graph(make, prefix):
    backbone = make()
    backbone.train()
    tap = build_tap(backbone, similarity_tokens='pre_norm')
    with tap.capture() as out:
        backbone(images())
    tap.similarity_last(out).pow(2).mean().backward()
    grad = tap.blocks[-1].attn.qkv.weight.grad
    assert grad is not None and grad.abs().sum() > 0


def test_vit_qkv_weights_are_live_views():
    backbone = tiny_vit()
    weights = build_tap(backbone).qkv_weights()
    assert [w.shape for w in weights] == [(3, 32, 32)] * 2
    qkv = backbone.layers[0].attn.qkv.weight
    assert weights[0].data_ptr() == qkv.data_ptr()  # a view, not a copy
    torch.testing.assert_close(weights[0][1], qkv.chunk(3)[1])  # [1] = k
    (weights[0][1].sum() + 2 * weights[1].sum()).backward()
    assert torch.all(qkv.grad[32:64] == 1) and torch.all(qkv.grad[:32] == 0)
    assert torch.all(backbone.layers[1].attn.qkv.weight.grad == 2)


@pytest.mark.parametrize('make,prefix', TOKEN_BACKBONES)
def test_patch_embed_alias_is_block_zero(make, prefix):
    tap = build_tap(make(), first_layer='patch_embed')
    assert tap.first_layer == 0
    assert 'aliases: patch_embed' in tap.valid_layers_message()
