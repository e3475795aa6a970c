"""The finiteness checks behind NonFiniteLossHook."""

import math

import torch

from mmdiverse.engine.hooks.non_finite_checks import (
    describe_gradients,
    non_finite_buffers,
    non_finite_gradients,
    non_finite_tensors,
)


def _params(*grads):
    params = []
    for grad in grads:
        param = torch.nn.Parameter(torch.zeros_like(grad))
        param.grad = grad
        params.append(param)
    return params, {id(p): f'p{i}' for i, p in enumerate(params)}


def test_finite_gradients_report_nothing():
    params, names = _params(torch.ones(3), torch.full((2, 2), 1e10))
    assert non_finite_gradients(params, names) == []


def test_nan_and_inf_elements_name_their_parameters_only():
    params, names = _params(
        torch.ones(3), torch.tensor([1.0, math.nan]), torch.tensor([math.inf, 0.0])
    )
    bad = non_finite_gradients(params, names)
    assert [name for name, _ in bad] == ['p1', 'p2']
    assert math.isnan(bad[0][1]) and bad[1][1] == math.inf
    assert describe_gradients(bad) == 'p1 (grad norm nan), p2 (grad norm inf)'


def test_an_overflowing_total_norm_names_the_largest_gradients():
    # Every element and every per-parameter norm is finite; the total is not.
    params, names = _params(
        torch.ones(2),
        torch.tensor([6e18] * 4),
        torch.tensor([6.5e18] * 4),
        torch.tensor([5e18] * 4),
    )
    assert torch.isfinite(torch.stack([p.grad.norm() for p in params])).all()
    bad = non_finite_gradients(params, names)
    assert [name for name, _ in bad] == ['p2', 'p1', 'p3', 'p0']


def test_parameters_without_gradients_are_ignored():
    params, names = _params(torch.ones(1))
    params.append(torch.nn.Parameter(torch.full((1,), math.nan)))  # no .grad
    assert non_finite_gradients(params, names) == []


def test_non_finite_tensors_walks_nested_checkpoints():
    checkpoint = {
        'state_dict': {
            'a': torch.ones(1),
            'b': torch.tensor([math.nan]),
            'mask': torch.tensor([-math.inf]),
            'count': torch.tensor([3]),
        },
        'optimizer': {
            'state': {0: {'exp_avg_sq': torch.tensor([math.inf])}},
            'param_groups': [{'lr': math.nan}],
        },
        'random_state': [torch.zeros(4, dtype=torch.uint8)],
    }
    assert non_finite_tensors(checkpoint, allowed={'mask'}) == [
        'state_dict.b',
        'optimizer.state.0.exp_avg_sq',
    ]


def test_non_finite_buffers_are_those_of_the_untrained_model():
    module = torch.nn.Module()
    module.register_buffer('mask', torch.tensor([0.0, -math.inf]))
    module.register_buffer('ones', torch.ones(2))
    assert non_finite_buffers(module.named_buffers()) == {'mask'}
