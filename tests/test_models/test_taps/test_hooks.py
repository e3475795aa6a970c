"""HookSet: every hook and undo of one capture goes away together."""

import torch
import torch.nn as nn

from mmdiverse.models.taps import HookSet


def test_close_removes_hooks_and_runs_undos_last_first():
    module, calls, order = nn.Linear(2, 2), [], []
    hooks = HookSet()
    hooks.pre_hook(module, lambda _m, _args: calls.append('pre'))
    hooks.forward_hook(module, lambda _m, _args, _out: calls.append('post'))
    hooks.on_exit(lambda: order.append('first registered'))
    hooks.on_exit(lambda: order.append('last registered'))
    module(torch.zeros(1, 2))
    assert calls == ['pre', 'post']
    hooks.close()
    assert order == ['last registered', 'first registered']
    assert not module._forward_hooks and not module._forward_pre_hooks
    module(torch.zeros(1, 2))
    assert calls == ['pre', 'post']  # no hook fired after close
    hooks.close()  # idempotent
    assert len(order) == 2
