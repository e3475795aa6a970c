"""TapOutputs / CaptureRequest: the capture record."""

import dataclasses

import pytest
import torch

from mmdiverse.models.taps import CaptureRequest, TapOutputs


def test_outputs_start_empty_and_do_not_share_dicts():
    first, second = TapOutputs(), TapOutputs()
    assert first.last is None and first.last_pre_norm is None
    first.attn[0] = torch.zeros(1)
    first.per_layer[0] = torch.zeros(1)
    assert second.attn == {} and second.per_layer == {}


def test_per_layer_sink_stores_tokens_and_int_grids():
    out = TapOutputs()
    sink = out.per_layer_sink(True)
    tokens = torch.randn(2, 6, 4)
    sink(3, tokens, (2, 3))
    assert out.per_layer[3] is tokens
    assert out.per_layer_hw[3] == (2, 3)
    assert all(type(s) is int for s in out.per_layer_hw[3])


def test_per_layer_sink_passes_a_callback_through_without_storing():
    out, seen = TapOutputs(), []

    def callback(index, tokens, hw):
        seen.append((index, hw))

    sink = out.per_layer_sink(callback)
    assert sink is callback
    sink(1, torch.zeros(1, 4, 2), (2, 2))
    assert seen == [(1, (2, 2))] and out.per_layer == {}


def test_capture_request_is_frozen_with_nothing_extra_by_default():
    request = CaptureRequest()
    assert (
        request.first,
        request.last,
        request.pre_norm,
        request.attn_layers,
        request.per_layer,
    ) == (True, True, False, (), False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.pre_norm = True
