"""Mixed precision: a bf16-autocast diverse training step gives finite terms
and the similarity / eigenvalue computations of the losses run in float32.

Issue 15, item 3. On the CPU the step runs under ``torch.autocast('cpu',
torch.bfloat16)`` (what ``tools/benchmarks/benchmark_step.py --amp bf16``
does there); on CUDA, when available, through mmengine's ``AmpOptimWrapper``
in bf16 and fp16 (what ``tools/train.py --amp`` uses).
"""

import copy

import numpy as np
import pytest
import torch
from mmengine.optim import OptimWrapper
from torch.overrides import TorchFunctionMode

from tests.helpers.tiny_classifier import AUGMENTS, loss_modules, make_batch, vit_classifier

LOSS_TERMS = (
    'loss_patch_cos',
    'loss_patch_contrast',
    'loss_patch_mix',
    'loss_attn_div',
    'loss_weight_cond',
)
#: Products and normalisations whose precision decides the similarities and
#: the power-iteration eigenvalue estimates.
PRECISION_OPS = (
    'matmul',
    'bmm',
    'mm',
    'mv',
    'einsum',
    'baddbmm',
    'addmm',
    'linalg',
    'normalize',
    'cosine_similarity',
    'softmax',
    'cross_entropy',
    'norm',
)


class LossOpDtypes(TorchFunctionMode):
    """Records ``(op, dtypes of its float tensor arguments)`` of every
    :data:`PRECISION_OPS` call made while a diversity loss module runs."""

    def __init__(self, model):
        super().__init__()
        self.calls, self.depth = [], 0
        self.handles = []
        for module in loss_modules(model):
            self.handles.append(module.register_forward_pre_hook(self._enter))
            self.handles.append(module.register_forward_hook(self._exit))

    def _enter(self, *args):
        self.depth += 1

    def _exit(self, *args):
        self.depth -= 1

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, '__name__', str(func))
        if self.depth and any(op in name for op in PRECISION_OPS):
            dtypes = {
                a.dtype
                for a in list(args) + list(kwargs.values())
                if torch.is_tensor(a) and a.is_floating_point()
            }
            self.calls.append((name, dtypes))
        return func(*args, **kwargs)

    def remove(self):
        for handle in self.handles:
            handle.remove()


def build(device='cpu'):
    torch.manual_seed(0)
    np.random.seed(0)
    model = vit_classifier(AUGMENTS['patch_cutmix']).to(device)
    # No stochastic depth: the bf16 and fp32 passes see the same network.
    for module in model.modules():
        if type(module).__name__ == 'DropPath':
            module.drop_prob = 0.0
    return model


def loss_terms(model, data, autocast):
    data = model.data_preprocessor(copy.deepcopy(data), training=True)
    with autocast:
        return model(**data, mode='loss')


def test_cpu_bf16_autocast_step_is_finite_and_losses_compute_in_float32():
    model = build()
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-3))
    model.train()
    reference = copy.deepcopy(model)
    data = make_batch(6, 'cpu', seed=0)

    np.random.seed(1)
    fp32 = loss_terms(reference, data, torch.autocast('cpu', enabled=False))
    recorder = LossOpDtypes(model)
    np.random.seed(1)  # the same PatchCutMix box and pairing
    with recorder:
        bf16 = loss_terms(model, data, torch.autocast('cpu', dtype=torch.bfloat16))
    recorder.remove()

    for key in LOSS_TERMS + ('patch_cos_sim',):
        assert bf16[key].dtype == torch.float32, f'{key}: {bf16[key].dtype}'
        assert torch.isfinite(bf16[key]), key
        # bf16 backbone activations, fp32 loss arithmetic: the terms stay close.
        torch.testing.assert_close(bf16[key], fp32[key], rtol=0.1, atol=1e-3, msg=key)
    assert recorder.calls, 'no product or normalisation recorded inside the losses'
    low = [
        (name, dtypes)
        for name, dtypes in recorder.calls
        if dtypes & {torch.bfloat16, torch.float16}
    ]
    assert not low, f'loss computations in reduced precision: {low[:8]}'

    # The full step (preprocessor, forward, backward, optimizer) under autocast.
    with torch.autocast('cpu', dtype=torch.bfloat16):
        log_vars = model.train_step(make_batch(6, 'cpu', seed=2), optim)
    for key in ('loss',) + LOSS_TERMS:
        assert torch.isfinite(log_vars[key]), key
    assert all(torch.isfinite(p).all() for p in model.parameters())
    # the persistent power-iteration state of WeightConditionLoss stays float32
    (weight_cond,) = loss_modules(model, ('WeightConditionLoss',))
    buffers = list(weight_cond.buffers())
    assert buffers
    assert all(b.dtype == torch.float32 for b in buffers if b.is_floating_point())


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
@pytest.mark.parametrize('dtype', ['bfloat16', 'float16'])
def test_cuda_amp_optim_wrapper_step_is_finite(dtype):
    from mmengine.optim import AmpOptimWrapper

    model = build('cuda').train()
    optim = AmpOptimWrapper(optimizer=torch.optim.AdamW(model.parameters(), lr=1e-3), dtype=dtype)
    recorder = LossOpDtypes(model)
    with recorder:
        for step in range(3):
            log_vars = model.train_step(make_batch(6, 'cuda', seed=step), optim)
    recorder.remove()
    for key in ('loss',) + LOSS_TERMS:
        assert torch.isfinite(log_vars[key]), key
    low = [
        (name, dtypes)
        for name, dtypes in recorder.calls
        if dtypes & {torch.bfloat16, torch.float16}
    ]
    assert not low, f'loss computations in reduced precision: {low[:8]}'
