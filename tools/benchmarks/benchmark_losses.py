"""Time and peak memory of the diversity losses against naive formulations.

For every loss and scale, one fresh child process builds the inputs, then
runs forward + backward of the mmdiverse implementation and of the naive
formulation (full ``n x n`` / ``H x H`` matrices, a Python loop over patches,
an exact eigen-decomposition per matrix), and reports:

- time: median wall-clock of ``--repeat`` forward + backward passes;
- peak: growth of the process's resident-set high-water mark over the
  baseline with the inputs allocated (``VmHWM``, reset through
  ``/proc/self/clear_refs``; glibc's mmap threshold is pinned so freed
  tensors go back to the OS). CPU only, Linux only.

Usage::

    python tools/benchmarks/benchmark_losses.py            # all scales
    python tools/benchmarks/benchmark_losses.py --scales vit seg4k

Naive runs whose estimated memory exceeds ``--naive-max-gib`` or half of the
available memory are skipped and shown as ``skip``.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# name -> (B, n, d) of the token losses; attention uses windows of 7x7
SCALES = {
    'vit': dict(batch=64, n=196, dim=384, heads=6, grid=14, label='ViT-S'),
    'seg4k': dict(batch=2, n=4096, dim=192, heads=3, grid=64, label='n=4096'),
    'seg16k': dict(batch=2, n=16384, dim=192, heads=3, grid=128, label='n=16384'),
}
LOSSES = ('cosine_abs', 'cosine_signed', 'contrastive', 'mixing', 'attention', 'weight')
NUM_CLASSES = 1000


# ----------------------------------------------------------------- memory
def _status(field):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f'{field} not in /proc/self/status')


def _reset_peak():
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')


def _available_bytes():
    with open('/proc/meminfo') as f:
        for line in f:
            if line.startswith('MemAvailable'):
                return int(line.split()[1]) * 1024
    return 0


# ----------------------------------------------------------------- naive
def naive_cosine(tokens, absolute):
    h = F.normalize(tokens, dim=-1)
    cos = h @ h.transpose(1, 2)
    n = tokens.shape[1]
    if not absolute:
        return cos.mean()
    mask = ~torch.eye(n, dtype=torch.bool, device=tokens.device)
    return (cos.abs() * mask).sum(dim=(1, 2)).mean() / (n * (n - 1))


def naive_contrastive(first, last):
    f, lst = F.normalize(first.detach(), dim=-1), F.normalize(last, dim=-1)
    sim = f @ lst.transpose(1, 2)
    n = sim.shape[-1]
    pos = torch.diagonal(sim, dim1=1, dim2=2)
    neg = (sim.sum(dim=-1) - pos) / (n - 1)
    return -torch.log(pos.exp() / (pos.exp() + neg.exp())).mean()


def naive_mixing(logits, targets):
    n = logits.shape[1]
    total = 0.0
    # one patch at a time, as the published code does. It indexes
    # logits[:, i], whose backward writes a zero tensor of the full logits
    # size per patch (O(n^2 K)); unbind keeps the loop at O(n K).
    for logit, target in zip(logits.unbind(1), targets.unbind(1)):
        log_p = F.log_softmax(logit, dim=-1)
        total = total + (-(target * log_p).sum(dim=-1)).mean()
    return total / n


def naive_attention(attn):
    maps = F.normalize(attn.flatten(2), dim=-1)
    return torch.bmm(maps, maps.transpose(1, 2)).mean()


def naive_weight(weights):
    total = 0.0
    for w in weights:  # forms W^T W and decomposes it: O(d^3) per matrix
        eig = torch.linalg.eigvalsh(w.transpose(0, 1) @ w)
        total = total + (eig[-1] - eig[0]) ** 2
    return total


# ----------------------------------------------------------------- inputs
def swin_l_qkv():
    shapes = [192] * 6 + [384] * 6 + [768] * 54 + [1536] * 6
    return [torch.randn(d, d) / d**0.5 for d in shapes], 'Swin-L 72 qkv mats'


def deit_s_qkv():
    return [torch.randn(384, 384) / 384**0.5 for _ in range(36)], 'DeiT-S 36x(384,384)'


def build_case(loss, scale):
    """Return (ours, naive, inputs, shape text, naive memory estimate)."""
    from mmdiverse.models.losses import (
        AttentionDiversityLoss,
        PatchContrastiveLoss,
        PatchCosineLoss,
        PatchMixingLoss,
        WeightConditionLoss,
    )

    cfg = SCALES[scale]
    b, n, d = cfg['batch'], cfg['n'], cfg['dim']
    gib = 4 / 2**30
    if loss.startswith('cosine'):
        absolute = loss == 'cosine_abs'
        tokens = torch.randn(b, n, d, requires_grad=True)
        return (
            PatchCosineLoss(absolute=absolute),
            lambda t: naive_cosine(t, absolute),
            [tokens],
            f'({b}, {n}, {d})',
            4.5 * b * n * n * gib,
        )
    if loss == 'contrastive':
        first = torch.randn(b, n, d)
        last = torch.randn(b, n, d, requires_grad=True)
        return (
            PatchContrastiveLoss(),
            naive_contrastive,
            [first, last],
            f'2x({b}, {n}, {d})',
            4.5 * b * n * n * gib,
        )
    if loss == 'mixing':
        logits = torch.randn(b, n, NUM_CLASSES, requires_grad=True)
        targets = torch.rand(b, n, NUM_CLASSES).softmax(dim=-1)
        return (
            PatchMixingLoss(),
            naive_mixing,
            [logits, targets],
            f'({b}, {n}, {NUM_CLASSES})',
            3 * b * n * NUM_CLASSES * gib,
        )
    if loss == 'attention':
        if scale == 'vit':
            shape = (b, cfg['heads'], n + 1, n + 1)  # with the class token
        else:  # Swin window attention: ceil(grid / 7)^2 windows of 49
            windows = (-(-cfg['grid'] // 7)) ** 2
            shape = (b * windows, cfg['heads'], 49, 49)
        attn = torch.randn(*shape).softmax(dim=-1).requires_grad_()
        numel = attn.numel()
        return (AttentionDiversityLoss(), naive_attention, [attn], str(shape), 3 * numel * gib)
    if loss == 'weight':
        if scale == 'tiny':
            weights, text = [torch.randn(8, 8) for _ in range(3)], 'tiny'
        elif scale == 'vit':
            weights, text = deit_s_qkv()
        else:
            weights, text = swin_l_qkv()
        weights = [w.requires_grad_() for w in weights]
        module = WeightConditionLoss()
        return (lambda *ws: module(list(ws)), lambda *ws: naive_weight(ws), weights, text, 0.0)
    raise ValueError(loss)


# ----------------------------------------------------------------- child
def measure(fn, inputs, repeat, max_seconds=20.0):
    """Peak extra RSS of the first call and the median time of the calls.

    Input gradients are freed before the baseline is taken, so both
    implementations pay for allocating them. Repeats stop once
    ``max_seconds`` have been spent.
    """
    times = []
    for _ in range(repeat):
        for t in inputs:
            t.grad = None
        if not times:
            _reset_peak()
            base = _status('VmRSS')
        start = time.perf_counter()
        value = fn(*inputs)
        value.backward()
        times.append(time.perf_counter() - start)
        if len(times) == 1:
            peak = _status('VmHWM') - base
        del value
        if sum(times) > max_seconds:
            break
    return statistics.median(times), peak


def child(loss, scale, repeat, naive_max_gib):
    torch.manual_seed(0)
    ours, naive, inputs, shape, naive_bytes = build_case(loss, scale)
    # warm-up on a tiny case so one-off allocations are not counted
    small_ours, small_naive, small_inputs, _, _ = build_case(loss, 'tiny')
    small_ours(*small_inputs).backward()
    small_naive(*small_inputs).backward()
    if loss == 'weight':
        ours(*inputs)  # create the persistent vectors outside the timing
    result = dict(loss=loss, scale=scale, shape=shape)
    result['ours_s'], result['ours_peak'] = measure(ours, inputs, repeat)
    limit = min(naive_max_gib * 2**30, 0.5 * _available_bytes())
    if naive_bytes > limit:
        result['naive_s'] = result['naive_peak'] = None
        result['naive_skip'] = f'est {naive_bytes / 2**30:.1f} GiB'
    else:
        result['naive_s'], result['naive_peak'] = measure(naive, inputs, repeat)
    print(json.dumps(result))


SCALES['tiny'] = dict(batch=2, n=16, dim=8, heads=2, grid=4, label='tiny')


# ----------------------------------------------------------------- parent
def fmt_time(seconds):
    return '-' if seconds is None else f'{seconds * 1e3:9.1f}'


def fmt_mib(num_bytes):
    return '-' if num_bytes is None else f'{num_bytes / 2**20:8.1f}'


def ratio(naive, ours):
    if naive is None or ours is None:
        return '-'
    return f'{naive / max(ours, 1e-12):7.1f}x'


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--scales', nargs='+', default=list(SCALES)[:3], choices=[s for s in SCALES if s != 'tiny']
    )
    parser.add_argument('--losses', nargs='+', default=list(LOSSES), choices=LOSSES)
    parser.add_argument(
        '--repeat',
        type=int,
        default=None,
        help='timed passes (default 3 at ViT-S scale, 1 at segmentation scale)',
    )
    parser.add_argument(
        '--naive-max-gib', type=float, default=10.0, help='skip naive runs estimated above this'
    )
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--child', nargs=2, metavar=('LOSS', 'SCALE'), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.child:
        repeat = args.repeat or (3 if args.child[1] == 'vit' else 1)
        child(*args.child, repeat, args.naive_max_gib)
        return

    env = dict(
        os.environ,
        MALLOC_MMAP_THRESHOLD_='65536',
        PYTHONPATH=os.pathsep.join(filter(None, [REPO_ROOT, os.environ.get('PYTHONPATH')])),
    )
    header = (
        f'{"loss":<14}{"scale":<9}{"input":<24}{"ours ms":>10}'
        f'{"naive ms":>10}{"speedup":>9}{"ours MiB":>10}'
        f'{"naive MiB":>10}{"mem ratio":>10}'
    )
    print(
        f'torch {torch.__version__}, {args.threads} CPU threads, load '
        f'average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; '
        'time = forward + backward (median); MiB = peak extra RSS; '
        'ratios = naive / ours'
    )
    print(header)
    print('-' * len(header))
    for scale in args.scales:
        for loss in args.losses:
            if loss == 'weight' and scale == 'seg16k':
                continue  # weights do not depend on the token count
            cmd = [
                sys.executable,
                os.path.abspath(__file__),
                '--child',
                loss,
                scale,
                '--naive-max-gib',
                str(args.naive_max_gib),
                '--threads',
                str(args.threads),
            ]
            if args.repeat:
                cmd += ['--repeat', str(args.repeat)]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True)
            label = SCALES[scale]['label']
            if loss == 'weight' and scale == 'seg4k':
                label = 'Swin-L'
            if out.returncode != 0:
                print(f'{loss:<14}{label:<9}failed: {out.stderr.strip().splitlines()[-1]}')
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            naive_time = fmt_time(r['naive_s'])
            if r.get('naive_skip'):
                naive_time = 'skip'
            print(
                f'{loss:<14}{label:<9}{r["shape"]:<24}'
                f'{fmt_time(r["ours_s"]):>10}{naive_time:>10}'
                f'{ratio(r["naive_s"], r["ours_s"]):>9}'
                f'{fmt_mib(r["ours_peak"]):>10}'
                f'{fmt_mib(r["naive_peak"]):>10}'
                f'{ratio(r["naive_peak"], r["ours_peak"]):>10}'
                + (f'  ({r["naive_skip"]})' if r.get('naive_skip') else ''),
                flush=True,
            )


if __name__ == '__main__':
    main()
