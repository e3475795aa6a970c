"""PatchCosineLoss against a naive float64 n x n reference."""

import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmpretrain.registry import MODELS

from mmdiverse.models.losses import PatchCosineLoss, patch_cosine_similarity

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def reference(tokens, absolute=True, eps=1e-8):
    """Naive formula: full n x n cosine matrix in float64."""
    x = tokens.double()
    h = x / x.norm(dim=-1, keepdim=True).clamp_min(eps)
    cos = h @ h.transpose(1, 2)
    n = x.shape[1]
    if not absolute:
        return cos.mean(dim=(1, 2)).mean()
    off_diag = ~torch.eye(n, dtype=torch.bool)
    if n == 1:
        return (cos * 0).sum(dim=(1, 2)).mean()
    return (cos.abs() * off_diag).sum(dim=(1, 2)).div(n * (n - 1)).mean()


def value_and_grad(fn, tokens):
    x = tokens.detach().clone().requires_grad_()
    value = fn(x)
    (grad,) = torch.autograd.grad(value, x)
    return value.detach(), grad


def assert_matches_reference(tokens, absolute, **kwargs):
    loss = PatchCosineLoss(absolute=absolute, **kwargs)
    value, grad = value_and_grad(loss, tokens)
    ref_value, ref_grad = value_and_grad(lambda x: reference(x, absolute), tokens)
    torch.testing.assert_close(value, ref_value, rtol=1e-10, atol=1e-12)
    # zero tokens have gradients of order 1/eps: relative tolerance
    scale = ref_grad.abs().max().clamp_min(1.0)
    torch.testing.assert_close(grad / scale, ref_grad / scale, rtol=0, atol=1e-12)


@pytest.mark.parametrize('absolute', [True, False])
@pytest.mark.parametrize('shape', [(3, 7, 5), (1, 9, 4), (5, 33, 8), (2, 2, 3)])
def test_matches_float64_reference(absolute, shape):
    torch.manual_seed(0)
    assert_matches_reference(torch.randn(*shape, dtype=torch.float64), absolute)


@pytest.mark.parametrize('absolute', [True, False])
def test_chunked_equals_single_block(absolute):
    # A tiny budget forces one row per block; 37 rows do not divide evenly.
    torch.manual_seed(1)
    tokens = torch.randn(3, 37, 6, dtype=torch.float64)
    assert_matches_reference(tokens, absolute, max_chunk_mib=1e-4)
    assert_matches_reference(tokens, absolute, max_chunk_mib=2e-3)


@pytest.mark.parametrize('rows', [1, 3, 40])
def test_chunked_function_gradcheck(rows):
    # The custom Function on its own, on unnormalized rows (through the
    # normalization a wrong diagonal term in backward would cancel out).
    from mmdiverse.models.losses.patch_cosine_loss import _OffDiagAbsGramSum

    torch.manual_seed(6)
    x = torch.randn(3, 7, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: _OffDiagAbsGramSum.apply(t, rows), (x,))
    cos = x @ x.transpose(1, 2)
    expected = (cos.abs() * ~torch.eye(7, dtype=torch.bool)).sum(dim=(1, 2))
    torch.testing.assert_close(_OffDiagAbsGramSum.apply(x, rows), expected)


def test_correlated_tokens_mixed_signs():
    # Tokens sharing a direction with random signs: absolute and signed
    # forms must differ strongly (a missing abs() would be caught).
    torch.manual_seed(2)
    base = torch.randn(1, 1, 16, dtype=torch.float64)
    signs = torch.randint(0, 2, (2, 40, 1)).double() * 2 - 1
    tokens = signs * base + 0.1 * torch.randn(2, 40, 16, dtype=torch.float64)
    assert_matches_reference(tokens, True, max_chunk_mib=1e-3)
    assert_matches_reference(tokens, False)
    assert PatchCosineLoss()(tokens) > 0.9
    assert PatchCosineLoss(absolute=False)(tokens) < 0.2


def test_single_token_is_zero_not_nan():
    tokens = torch.randn(1, 1, 8, requires_grad=True)
    value = PatchCosineLoss()(tokens)
    value.backward()
    assert value.item() == 0.0
    assert torch.equal(tokens.grad, torch.zeros_like(tokens))
    # the signed form includes the diagonal: ||h_1||^2 = 1
    signed = PatchCosineLoss(absolute=False)(torch.randn(3, 1, 8))
    torch.testing.assert_close(signed, torch.tensor(1.0))


@pytest.mark.parametrize('absolute', [True, False])
def test_zero_tokens_are_finite(absolute):
    torch.manual_seed(3)
    tokens = torch.randn(3, 6, 4, dtype=torch.float64)
    tokens[0, 2] = 0
    tokens[1] = 0  # an all-zero image
    assert_matches_reference(tokens, absolute, max_chunk_mib=1e-4)
    x = tokens.float().requires_grad_()
    value = PatchCosineLoss(absolute=absolute)(x)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(x.grad).all()
    # diagonal terms of zero tokens are 0, not 1: all-zero images give 0
    per_image = patch_cosine_similarity(tokens, absolute, reduction='none')
    assert per_image[1].item() == 0.0


def test_loss_weight_and_registry():
    torch.manual_seed(4)
    tokens = torch.randn(3, 10, 8)
    loss = MODELS.build(dict(type='PatchCosineLoss', loss_weight=0.5))
    assert isinstance(loss, PatchCosineLoss)
    torch.testing.assert_close(loss(tokens), 0.5 * PatchCosineLoss()(tokens))
    per_image = patch_cosine_similarity(tokens, reduction='none')
    assert per_image.shape == (3,)
    torch.testing.assert_close(per_image.mean(), PatchCosineLoss()(tokens))


@pytest.mark.parametrize('absolute', [True, False])
def test_float32_under_autocast(absolute):
    torch.manual_seed(5)
    tokens = torch.randn(2, 24, 16)
    expected = PatchCosineLoss(absolute=absolute)(tokens)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        fp32_in = PatchCosineLoss(absolute=absolute)(tokens)
        bf16_in = PatchCosineLoss(absolute=absolute)(tokens.bfloat16())
    assert fp32_in.dtype == torch.float32 and bf16_in.dtype == torch.float32
    torch.testing.assert_close(fp32_in, expected, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(bf16_in, expected, rtol=2e-2, atol=2e-3)


def test_bf16_input_gets_bf16_gradient():
    x = torch.randn(2, 12, 8, dtype=torch.bfloat16, requires_grad=True)
    PatchCosineLoss()(x).backward()
    assert x.grad.dtype == torch.bfloat16 and torch.isfinite(x.grad.float()).all()


@pytest.mark.parametrize('bad', [(2, 3), (2, 3, 4, 5), (7,)])
def test_wrong_rank_raises(bad):
    with pytest.raises(
        ValueError,
        match=r'PatchCosineLoss expects tokens of '
        r'shape \(B, n, d\), got ' + repr(bad).replace('(', r'\(').replace(')', r'\)'),
    ):
        PatchCosineLoss()(torch.randn(*bad))


# Peak memory is measured in a fresh process as the growth of the resident
# set high-water mark (VmHWM, reset through /proc/self/clear_refs), with
# glibc's mmap threshold pinned so that freed tensors return to the OS and
# runs in one process do not hide each other. The probe loads the loss files
# with a stand-in registry: importing the whole of mmdiverse (mmpretrain,
# mmseg) would cost more than the measurement itself.
_PROBE = r"""
import importlib.util, json, sys, types
import torch

registry = types.ModuleType('mmpretrain.registry')
registry.MODELS = types.SimpleNamespace(register_module=lambda: lambda c: c)
sys.modules['mmpretrain'] = types.ModuleType('mmpretrain')
sys.modules['mmpretrain.registry'] = registry
spec = importlib.util.spec_from_file_location(
    'probe_losses', sys.argv[1] + '/__init__.py',
    submodule_search_locations=[sys.argv[1]])
losses = importlib.util.module_from_spec(spec)
sys.modules['probe_losses'] = losses
spec.loader.exec_module(losses)


def status(field):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) * 1024


def chunked(x, budget):
    return losses.PatchCosineLoss(max_chunk_mib=budget)(x)


def naive(x, budget):  # autograd through the full n x n matrix
    h = torch.nn.functional.normalize(x, dim=-1)
    cos = (h @ h.transpose(1, 2)).abs()
    return (cos.sum() - h.pow(2).sum()) / (x.shape[0] * x.shape[1] ** 2)


batch, n, dim, budget = map(float, sys.argv[2:6])
x = torch.randn(int(batch), int(n), int(dim)).requires_grad_()
result = {}
for mode in sys.argv[6:]:
    fn = globals()[mode]
    fn(torch.randn(2, 8, 4, requires_grad=True), 1e-4).backward()  # warm-up
    x.grad = None
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')
    base = status('VmRSS')
    fn(x, budget).backward()
    result[mode] = (status('VmHWM') - base) / 2**20
print(json.dumps(result))
"""


def peak_extra_mib(batch, n, dim, budget, modes):
    if not osp.exists('/proc/self/clear_refs'):
        pytest.skip('needs Linux /proc/self/clear_refs')
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_='65536')
    losses_dir = osp.join(REPO_ROOT, 'mmdiverse', 'models', 'losses')
    out = subprocess.run(
        [sys.executable, '-c', _PROBE, losses_dir, *map(str, (batch, n, dim, budget)), *modes],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_peak_memory_bounded_forward_and_backward():
    # 1/4 of the Swin stage-1 token count with an 8 MiB block budget: the
    # naive n x n version needs > 256 MiB, the chunked one a bounded amount.
    peaks = peak_extra_mib(2, 4096, 192, 8, ['chunked', 'naive'])
    assert peaks['naive'] > 256, peaks  # the probe does see n x n matrices
    assert peaks['chunked'] < 64, peaks


@pytest.mark.slow
def test_peak_memory_swin_stage1_512px():
    # B=2, n=128*128, d=192 with the default 64 MiB block: under 300 MiB.
    peaks = peak_extra_mib(2, 16384, 192, 64, ['chunked'])
    assert peaks['chunked'] < 300, peaks
