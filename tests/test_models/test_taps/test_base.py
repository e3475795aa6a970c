"""BaseTap: the capture contract every tap follows."""

import pytest
import torch

from mmdiverse.models.taps import build_tap
from tests.helpers.tiny_backbones import (
    images,
    no_hooks_left,
    timm_resnet18,
    tiny_deit,
    tiny_resnet,
    tiny_swin,
    tiny_timm_vit,
    tiny_vit,
)


def test_hooks_exist_only_inside_capture_even_when_the_forward_raises():
    backbone = tiny_vit()
    tap = build_tap(backbone, attn_layers=(0,))
    stock_attention = backbone.layers[0].attn.scaled_dot_product_attention
    with pytest.raises(RuntimeError):
        with tap.capture(per_layer=True, pre_norm=True):
            assert not no_hooks_left(backbone)
            backbone(torch.zeros(2, 5, 32, 32))  # wrong channel count
    assert no_hooks_left(backbone)
    assert backbone.layers[0].attn.scaled_dot_product_attention is stock_attention


def test_nothing_is_recorded_that_was_not_asked_for():
    backbone = tiny_vit()
    tap = build_tap(backbone, attn_layers=(0,))
    with tap.capture(first=False, last=False, attn=False) as out:
        backbone(images())
    assert (out.first, out.last, out.last_pre_norm) == (None, None, None)
    assert out.attn == {} and out.per_layer == {}


def test_attn_override_and_per_layer_callback():
    backbone = tiny_vit(num_layers=3)
    tap = build_tap(backbone, attn_layers=(0,))
    seen = []
    with tap.capture(
        attn=('layers.2', 1), per_layer=lambda i, t, hw: seen.append((i, t.shape, hw))
    ) as out:
        backbone(images())
    assert sorted(out.attn) == [1, 2]
    assert seen == [(i, (2, 16, 32), (4, 4)) for i in range(3)]
    assert out.per_layer == {}
    with pytest.raises(ValueError, match="tap.attn='layers.9'"):
        with tap.capture(attn=('layers.9',)):
            pass


def test_extract_returns_the_backbone_outputs_and_the_record():
    backbone = tiny_vit(out_type='raw')
    x = images()
    feats, out = build_tap(backbone).extract(x, first=False)
    torch.testing.assert_close(feats[-1][:, 1:], out.last)
    assert out.first is None


def test_similarity_tokens_choose_the_default_capture_and_the_last_tokens():
    backbone = tiny_vit()
    post = build_tap(backbone)
    pre = build_tap(backbone, similarity_tokens='pre_norm')
    with post.capture() as post_out:
        backbone(images())
    with pre.capture() as pre_out:
        backbone(images())
    assert post_out.last_pre_norm is None
    assert post.similarity_last(post_out) is post_out.last
    assert pre.similarity_last(pre_out) is pre_out.last_pre_norm
    assert not torch.allclose(pre_out.last_pre_norm, pre_out.last)
    with pytest.raises(RuntimeError, match='pre_norm=True'):
        pre.similarity_last(post_out)
    with pytest.raises(ValueError, match="diversity.tap.similarity_tokens='prenorm'"):
        build_tap(backbone, similarity_tokens='prenorm', cfg_key='diversity.tap')


def test_repr_names_the_layers():
    tap = build_tap(tiny_vit(), first_layer=1, attn_layers=(0,))
    assert repr(tap) == (
        "ViTTap(backbone=VisionTransformer, first_layer='layers.1', attn_layers=['layers.0'])"
    )


def test_the_counter_sees_host_reads(count_host_reads):
    with count_host_reads() as counts:
        probe = torch.ones(1)
        probe.item(), bool(probe), int(probe), probe.tolist()
    assert dict(counts) == {'item': 1, '__bool__': 1, '__int__': 1, 'tolist': 1}
    assert 'counting' not in repr(torch.Tensor.item)


@pytest.mark.parametrize(
    'make,attn',
    [
        (tiny_vit, True),
        (tiny_deit, True),
        (tiny_swin, True),
        (tiny_timm_vit, True),
        (tiny_resnet, False),
        (timm_resnet18, False),
    ],
)
def test_a_training_step_through_every_capture_reads_no_tensor_value(make, attn, count_host_reads):
    """Issue 15: no host sync on the taps' training path (forward with all
    captures on, and the backward through the captured tensors)."""
    backbone = make()
    backbone.train()
    tap = build_tap(backbone, attn_layers=(0,) if attn else ())
    x = images(size=32 if attn else 64)
    with count_host_reads() as counts:
        with tap.capture(per_layer=True, pre_norm=attn) as out:
            backbone(x)
        loss = out.first.sum() + out.last.sum()
        loss = loss + sum(t.sum() for t in out.per_layer.values())
        if attn:
            loss = loss + out.last_pre_norm.sum() + out.attn[0].sum()
            loss = loss + sum(w.sum() for w in tap.qkv_weights())
        loss.backward()
    assert dict(counts) == {}
