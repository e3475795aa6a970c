"""No host syncs on the training path of the diversity regularizers.

A host sync (``.item()``, ``.cpu()``, ``.tolist()``, a Python ``if`` on a
tensor, a boolean-mask index) costs nothing visible in a 2 s CPU step and can
dominate a 50 ms GPU step (issue 15, item 2). One full ``train_step`` of a
small ``DiverseImageClassifier`` with all five terms, ``PatchCutMix`` and the
per-patch target routing (``PatchClsDataPreprocessor`` -> ``PatchMixingLoss``;
:class:`PatchRouteProbe` checks the route was taken) runs

* on the CPU with counting hooks on the Python entry points of host syncs
  (the test fails listing ``file:line`` of every call);
* on CUDA, when available, under ``torch.cuda.set_sync_debug_mode('error')``
  (any synchronising CUDA call raises).

The first step is a warm-up (lazy state such as the power-iteration vectors
of ``WeightConditionLoss`` may be set up once); the second step is checked.
The logged diagnostic ``patch_cos_sim`` stays a tensor (logging reads it once
per logging interval, outside the step).
"""

import collections
import os.path as osp
import traceback

import numpy as np
import pytest
import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmdiverse  # noqa: F401
from tests.helpers.tiny_classifier import (
    AUGMENTS,
    IMG,
    LOSS_KEYS,
    NUM_CLASSES,
    TERMS,
    loss_modules,
    make_batch,
    vit_classifier,
)
from tests.helpers.tiny_selfsup import tiny_mae_cfg, tiny_simmim_cfg

#: Tensor methods through which Python code makes the host wait for the device.
SYNC_METHODS = ('item', 'tolist', 'cpu', 'numpy', '__bool__', '__float__', '__int__', 'nonzero')
TORCH_ROOT = osp.dirname(torch.__file__)


def build_step(augments, device='cpu'):
    torch.manual_seed(0)
    np.random.seed(0)
    model = vit_classifier(AUGMENTS[augments]).to(device).train()
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-3))
    return model, optim


class SyncCounter:
    """Counts the calls of :data:`SYNC_METHODS` and boolean-mask indexing on
    tensors made from Python code outside torch, by caller (``file:line``)."""

    def __init__(self, monkeypatch):
        self.calls = collections.Counter()
        self.active = False
        for name in SYNC_METHODS:
            monkeypatch.setattr(torch.Tensor, name, self._wrap(name, getattr(torch.Tensor, name)))
        getitem = torch.Tensor.__getitem__

        def checked_getitem(tensor, index):
            indices = index if isinstance(index, tuple) else (index,)
            if self.active and any(torch.is_tensor(i) and i.dtype == torch.bool for i in indices):
                self._record('x[bool_mask]')
            return getitem(tensor, index)

        monkeypatch.setattr(torch.Tensor, '__getitem__', checked_getitem)

    def _record(self, name):
        # [:-2]: this method and the hook that called it. Calls made by torch
        # itself are left out: torch.optim keeps its step counters on the host
        # on purpose (``.item()`` of a CPU scalar); the CUDA test covers torch.
        stack = traceback.extract_stack()[:-2]
        caller = stack[-1]
        if caller.filename.startswith(TORCH_ROOT):
            return
        self.calls[f'{name} at {caller.filename}:{caller.lineno} ({caller.name})'] += 1

    def _wrap(self, name, method):
        def counted(tensor, *args, **kwargs):
            if self.active:
                self._record(f'Tensor.{name}')
            return method(tensor, *args, **kwargs)

        counted.__name__ = name
        return counted

    def __enter__(self):
        self.active = True
        return self

    def __exit__(self, *exc):
        self.active = False
        return False

    def report(self):
        return '\n'.join(f'{n} x {where}' for where, n in sorted(self.calls.items()))


class PatchRouteProbe:
    """Records what ``PatchCutMix`` produced and what ``PatchMixingLoss``
    received in a step: the per-patch route was taken when the loss got
    ``(B, n, K)`` targets that differ between the patches of an image."""

    def __init__(self, model):
        self.mixed, self.targets = 0, []
        for augment in model.data_preprocessor.batch_augments.augments:
            if type(augment).__name__ == 'PatchCutMix':
                mix = augment.mix_with_patch_targets

                def counted(*args, _mix=mix, **kwargs):
                    self.mixed += 1
                    return _mix(*args, **kwargs)

                augment.mix_with_patch_targets = counted
        (loss,) = loss_modules(model, ('PatchMixingLoss',))
        loss.register_forward_pre_hook(lambda m, args: self.targets.append(args[1].detach()))

    def check(self, batch, tokens):
        assert self.mixed == 1 and len(self.targets) == 1
        targets = self.targets[0]
        assert targets.shape == (batch, tokens, NUM_CLASSES)
        assert (targets != targets[:, :1]).any(), 'every patch got its image target'


def check_log_vars(log_vars):
    for key in ('loss', *LOSS_KEYS, 'patch_cos_sim'):
        assert key in log_vars, key
        assert torch.is_tensor(log_vars[key]), f'{key} is not a tensor: read on the host'
        assert torch.isfinite(log_vars[key]).all(), key


@pytest.mark.parametrize('augments', list(AUGMENTS))
def test_cpu_training_step_makes_no_host_sync_call(augments, monkeypatch):
    model, optim = build_step(augments)
    model.train_step(make_batch(6, 'cpu', seed=0), optim)  # warm-up
    probe = PatchRouteProbe(model)
    counter = SyncCounter(monkeypatch)
    data = make_batch(6, 'cpu', seed=1)
    with counter:
        log_vars = model.train_step(data, optim)
    assert not counter.calls, 'host syncs in one diverse training step:\n' + counter.report()
    check_log_vars(log_vars)
    if augments == 'patch_cutmix':
        probe.check(batch=6, tokens=(IMG // 8) ** 2)


def test_counter_catches_item_bool_and_mask_index(monkeypatch):
    """The hooks see what they are meant to see (negative control)."""
    counter = SyncCounter(monkeypatch)
    x = torch.arange(4.0)
    with counter:
        x.sum().item()
        if x.max() > 2:
            x[x > 1].tolist()
    names = ' '.join(counter.calls)
    for name in ('Tensor.item', 'Tensor.__bool__', 'x[bool_mask]', 'Tensor.tolist'):
        assert name in names, counter.report()
    assert f'{__file__}:' in names  # the caller is named, not the hook
    with counter:
        torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0).step()
    assert sum(counter.calls.values()) == 4  # nothing from inside torch


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
@pytest.mark.parametrize('augments', ['patch_cutmix'])
def test_cuda_training_step_under_sync_debug_mode_error(augments):
    model, optim = build_step(augments, device='cuda')
    model.train_step(make_batch(6, 'cuda', seed=0), optim)  # warm-up
    probe = PatchRouteProbe(model)
    data = make_batch(6, 'cuda', seed=1)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode('error')
    try:
        log_vars = model.train_step(data, optim)
    finally:
        torch.cuda.set_sync_debug_mode('default')
    check_log_vars(log_vars)
    probe.check(batch=6, tokens=(IMG // 8) ** 2)


SSL_TERMS = {k: v for k, v in TERMS.items() if k != 'patch_mix'}
SSL_MODELS = {
    # MAE: the terms read the encoder's visible tokens (MAEViTTap).
    'mae': tiny_mae_cfg(dict(SSL_TERMS, tap=dict(attn_layers=(1,)))),
    # SimMIM: the last Swin stage, masked positions included (the default).
    'simmim': tiny_simmim_cfg(dict(SSL_TERMS, tap=dict(attn_layers=(3,)))),
}


def build_ssl_step(name, device='cpu'):
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(SSL_MODELS[name]).to(device).train()
    return model, OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-3))


def make_ssl_batch(batch, device, seed):
    """Uint8 images and, for SimMIM, 8x8 masks of whole 8 px cells."""
    gen = torch.Generator().manual_seed(seed)
    inputs = torch.randint(0, 256, (batch, 3, IMG, IMG), dtype=torch.uint8, generator=gen)
    samples = []
    for _ in range(batch):
        sample = DataSample()
        cells = (torch.rand(4, 4, generator=gen) < 0.5).float()
        sample.set_field(cells.repeat_interleave(2, 0).repeat_interleave(2, 1), 'mask')
        samples.append(sample.to(device) if device != 'cpu' else sample)
    return dict(inputs=inputs.to(device), data_samples=samples)


def check_ssl_log_vars(log_vars):
    for key in (
        'loss',
        'loss_rec',
        'loss_patch_cos',
        'loss_patch_contrast',
        'loss_attn_div',
        'loss_weight_cond',
        'patch_cos_sim',
    ):
        assert key in log_vars, key
        assert torch.is_tensor(log_vars[key]), f'{key} is not a tensor: read on the host'
        assert torch.isfinite(log_vars[key]).all(), key


@pytest.mark.parametrize('name', list(SSL_MODELS))
def test_cpu_self_supervised_step_makes_no_host_sync_call(name, monkeypatch):
    """The new taps (MAEViTTap's visible tokens, SwinTap on SimMIM's encoder)
    and the self-supervised models add no host sync."""
    model, optim = build_ssl_step(name)
    model.train_step(make_ssl_batch(4, 'cpu', seed=0), optim)  # warm-up
    counter = SyncCounter(monkeypatch)
    data = make_ssl_batch(4, 'cpu', seed=1)
    with counter:
        log_vars = model.train_step(data, optim)
    assert not counter.calls, 'host syncs in one diverse training step:\n' + counter.report()
    check_ssl_log_vars(log_vars)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
@pytest.mark.parametrize('name', list(SSL_MODELS))
def test_cuda_self_supervised_step_under_sync_debug_mode_error(name):
    model, optim = build_ssl_step(name, device='cuda')
    model.train_step(make_ssl_batch(4, 'cuda', seed=0), optim)  # warm-up
    data = make_ssl_batch(4, 'cuda', seed=1)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode('error')
    try:
        log_vars = model.train_step(data, optim)
    finally:
        torch.cuda.set_sync_debug_mode('default')
    check_ssl_log_vars(log_vars)
