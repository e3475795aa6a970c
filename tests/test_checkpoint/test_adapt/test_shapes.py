"""The adapt step of the backbone transfer (mmdiverse.checkpoint.adapt.shapes)."""

import torch
from mmpretrain.models import SwinTransformer

from mmdiverse.checkpoint.adapt import adapt_state_dict, resize_relative_position_bias_table

ARCH = dict(embed_dims=16, depths=[2], num_heads=[2])


def _swin(window):
    return SwinTransformer(arch=dict(ARCH), img_size=48, window_size=window, out_indices=(0,))


def test_tables_resized_buffers_skipped_and_other_mismatches_left():
    source, target = _swin(4), _swin(6)
    state = dict(source.state_dict())
    state['norm0.weight'] = torch.ones(8)  # a real mismatch: left for the check
    out, adapted, derived, errors = adapt_state_dict(target, state)
    tables = [k for k in state if k.endswith('relative_position_bias_table')]
    assert sorted(adapted) == sorted(tables)
    for key in tables:
        assert torch.equal(out[key], resize_relative_position_bias_table(state[key], 11 * 11))
    assert sorted(derived) == sorted(k for k in state if k.endswith('relative_position_index'))
    assert not any(k.endswith('relative_position_index') for k in out)
    assert out['norm0.weight'].shape == (8,) and not errors


def test_a_contradicting_index_of_the_same_shape_is_an_error():
    source, target = _swin(4), _swin(4)
    state = dict(source.state_dict())
    key = 'stages.0.blocks.0.attn.w_msa.relative_position_index'
    state[key] = state[key].flip(0)
    _, _, _, errors = adapt_state_dict(target, state)
    assert len(errors) == 1 and errors[0].startswith(key)
