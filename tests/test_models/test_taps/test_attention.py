"""Attention capture: explicit softmax only in the tapped blocks."""

import functools

import pytest
import torch
from mmpretrain.models.utils.attention import (
    MultiheadAttention,
    scaled_dot_product_attention_pyimpl,
)
from torch.autograd.profiler import record_function
from torch.profiler import ProfilerActivity, profile

from mmdiverse.models.losses import attention_head_similarity
from mmdiverse.models.taps import build_tap, explicit_attention
from tests.helpers.tiny_backbones import (
    images,
    tiny_deit,
    tiny_swin,
    tiny_timm_vit,
    tiny_vit,
)

SDPA = 'aten::scaled_dot_product_attention'
SOFTMAX = 'aten::softmax'


def test_explicit_attention_reproduces_qk_scale_fallback():
    """With qk_scale set, mmpretrain uses its Python fallback (a partial
    dividing by ``scale``): the explicit path must give the same numbers."""
    torch.manual_seed(0)
    attn = MultiheadAttention(embed_dims=16, num_heads=2, qk_scale=0.5)
    original = attn.scaled_dot_product_attention
    assert isinstance(original, functools.partial)
    assert original.func is scaled_dot_product_attention_pyimpl
    x = torch.randn(2, 5, 16)
    stock = attn(x)
    stored = []
    attn.scaled_dot_product_attention = explicit_attention(original, stored.append)
    torch.testing.assert_close(attn(x), stock)
    assert stored[0].shape == (2, 2, 5, 5)


def test_explicit_attention_rejects_masks():
    attention = explicit_attention(torch.nn.functional.scaled_dot_product_attention, print)
    q = torch.zeros(1, 1, 2, 4)
    with pytest.raises(NotImplementedError, match='unmasked'):
        attention(q, q, q, attn_mask=torch.zeros(2, 2))


def test_attention_gradient_flows_from_probabilities():
    backbone = tiny_vit()
    backbone.train()
    tap = build_tap(backbone, attn_layers=(1,))
    with tap.capture(first=False) as out:
        backbone(images())
    out.attn[1].pow(2).sum().backward()
    grad = backbone.layers[1].attn.qkv.weight.grad
    assert grad is not None and grad.abs().sum() > 0


def _attention_ops_per_block(backbone, blocks, tap, attn_layers):
    """``{block index: {op: count}}`` of SDPA and softmax calls in one
    forward pass inside ``tap.capture(attn=attn_layers)``, each op assigned
    to the block (a profiler range opened by a hook) it runs in."""
    ranges = {}

    def enter(index):
        def hook(_module, _args):
            ranges[index] = record_function(f'tap_test_block_{index}')
            ranges[index].__enter__()

        return hook

    def leave(index):
        def hook(_module, _args, _output):
            ranges.pop(index).__exit__(None, None, None)

        return hook

    handles = [
        h
        for i, block in enumerate(blocks)
        for h in (block.register_forward_pre_hook(enter(i)), block.register_forward_hook(leave(i)))
    ]
    try:
        with profile(activities=[ProfilerActivity.CPU]) as prof, tap.capture(attn=attn_layers):
            backbone(images())
    finally:
        for handle in handles:
            handle.remove()
    counts = {i: {SDPA: 0, SOFTMAX: 0} for i in range(len(blocks))}
    for event in prof.events():
        if event.name not in (SDPA, SOFTMAX):
            continue
        parent = event.cpu_parent
        while parent is not None and not parent.name.startswith('tap_test_block_'):
            if parent.name == SDPA:  # a softmax inside a fused kernel
                break
            parent = parent.cpu_parent
        if parent is None or parent.name == SDPA:
            continue
        counts[int(parent.name.rsplit('_', 1)[1])][event.name] += 1
    return counts


@pytest.mark.parametrize(
    'make,blocks',
    [
        (functools.partial(tiny_vit, num_layers=4), lambda b: b.layers),
        (functools.partial(tiny_timm_vit, depth=4), lambda b: b.timm_model.blocks),
    ],
)
def test_only_tapped_blocks_leave_fused_sdpa(make, blocks):
    """Issue 15: every non-regularized block keeps fused
    ``scaled_dot_product_attention``; only the tapped blocks run softmax."""
    backbone = make()
    tap = build_tap(backbone)
    counts = _attention_ops_per_block(backbone, blocks(backbone), tap, (1, 3))
    fused, explicit = {SDPA: 1, SOFTMAX: 0}, {SDPA: 0, SOFTMAX: 1}
    assert counts == {0: fused, 1: explicit, 2: fused, 3: explicit}
    counts = _attention_ops_per_block(backbone, blocks(backbone), tap, ())
    assert counts == {i: fused for i in range(4)}


@pytest.mark.parametrize('make', [tiny_vit, tiny_deit, tiny_swin, tiny_timm_vit])
def test_bf16_autocast_forward_captures_finite_tensors(make):
    """Issue 15 (AMP): one bf16 autocast forward gives finite captured
    tensors; explicit-path probabilities are float32, and the attention
    loss computes in float32 whatever the captured dtype."""
    backbone = make()
    backbone.train()
    tap = build_tap(backbone, attn_layers=(0,), similarity_tokens='pre_norm')
    with torch.autocast('cpu', dtype=torch.bfloat16), tap.capture() as out:
        backbone(images())
    captured = [out.first, out.last, out.last_pre_norm, out.attn[0]]
    assert all(torch.isfinite(t).all() for t in captured)
    if make in (tiny_vit, tiny_deit):  # mmpretrain: our explicit path
        assert out.attn[0].dtype == torch.float32
    with torch.autocast('cpu', dtype=torch.bfloat16):
        similarity = attention_head_similarity(out.attn[0])
    assert similarity.dtype == torch.float32 and torch.isfinite(similarity)
    similarity.backward()
    grads = [p.grad for p in backbone.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
