"""Throughput of full training steps: diverse configs against their baselines.

Each config's model, data preprocessor and optim wrapper are built the way
mmengine's ``Runner`` builds them (``mmdiverse.apis.build_model``: the
config's ``MODELS`` registry and scope; ``mmengine.optim.build_optim_wrapper``
with the config's ``optim_wrapper``, gradient clipping and ``paramwise_cfg``
included). One timed step is ``model.train_step(data, optim_wrapper)``: the
data preprocessor with its batch augments (Mixup / PatchCutMix), forward, all
losses, backward and the optimizer step, on a synthetic batch of random
uint8 images (and random labels / label maps; SimMIM masks from the config's
mask generator) shaped as the config's input
(``model.backbone.img_size`` of a classifier, ``data_preprocessor.size`` of
a segmentor; ``--img-size`` overrides), collated by the config's
``collate_fn`` as its dataloader would.

Both models of a pair live in one process. After ``--warmup`` steps of each,
the steps alternate (diverse, baseline, then baseline, diverse, ...) for
``--iters`` rounds, so drift of the machine (clocks, other jobs) hits both
alike. Step time: CUDA events around the step on the GPU (each step starts
on an idle stream), ``time.perf_counter`` on the CPU. Reported per pair:
img/s of each (batch size / median step time), the diverse/baseline
throughput ratio (median over the rounds of the per-round ratio) and the
peak memory of each model's steps: ``torch.cuda.max_memory_allocated`` on the
GPU, the resident-set high-water mark (``VmHWM``, reset before every step;
Linux) on the CPU; both include the other model's resident weights.

``--amp bf16|fp16``: on CUDA the config's optim wrapper becomes mmengine's
``AmpOptimWrapper`` with that dtype (as ``tools/train.py --amp``); on the CPU
the step runs under ``torch.autocast('cpu', dtype)`` (no loss scaling).

Usage::

    python -m tools.benchmarks.benchmark_step --device cuda --amp bf16
    python -m tools.benchmarks.benchmark_step --device cpu --batch-size 8 \\
        --iters 5 --warmup 1 --pairs deit_s24
    python -m tools.benchmarks.benchmark_step --device cpu \\
        --pairs configs/demo/vit_tiny_shapes_diverse.py,configs/demo/vit_tiny_shapes.py
"""

import argparse
import contextlib
import gc
import json
import math
import os
import os.path as osp
import statistics
import sys
import time

import torch

from tools.benchmarks.synthetic_batches import SyntheticBatches

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def stock_encoder_decoder(cfg):
    """mmseg's own ``EncoderDecoder`` in place of ``TransferEncoderDecoder``
    (same backbone, heads and recipe): what the transfer path costs."""
    cfg.model.type = 'EncoderDecoder'
    cfg.model.pop('backbone_transfer', None)


#: name -> (diverse config, baseline config[, edit of the baseline config]),
#: paths relative to the repository.
DEFAULT_PAIRS = {
    'deit_s24': ('configs/pretrain/deit_s24_diverse.py', 'configs/pretrain/deit_s24_baseline.py'),
    'swin_l': ('configs/pretrain/swin_l_diverse.py', 'configs/pretrain/swin_l_baseline.py'),
    'upernet_swin_l': (
        'configs/seg/upernet_swin_l_ade20k_diverse_ft.py',
        'configs/seg/upernet_swin_l_ade20k.py',
    ),
    # regularizers off: our TransferEncoderDecoder against mmseg's EncoderDecoder
    'upernet_swin_l_transfer': (
        'configs/seg/upernet_swin_l_ade20k.py',
        'configs/seg/upernet_swin_l_ade20k.py',
        stock_encoder_decoder,
    ),
    'diverse_vit_deit_s12': (
        'configs/pretrain/diverse_vit/deit_s12.py',
        'configs/pretrain/diverse_vit/deit_s12_baseline.py',
    ),
    'diverse_vit_deit_s24': (
        'configs/pretrain/diverse_vit/deit_s24.py',
        'configs/pretrain/diverse_vit/deit_s24_baseline.py',
    ),
    # self-supervised: DiverseMAE / DiverseSimMIM against mmpretrain's MAE / SimMIM
    'mae_vit_b': (
        'configs/pretrain/mae_vit_b_diverse.py',
        'configs/pretrain/mae_vit_b_baseline.py',
    ),
    'simmim_swin_b': (
        'configs/pretrain/simmim_swin_b_diverse.py',
        'configs/pretrain/simmim_swin_b_baseline.py',
    ),
}
AMP_DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--pairs',
        nargs='+',
        default=list(DEFAULT_PAIRS),
        help='names of default pairs (' + ', '.join(DEFAULT_PAIRS) + ') or '
        '"DIVERSE.py,BASELINE.py" (default: all default pairs whose files exist)',
    )
    parser.add_argument('--device', choices=['cpu', 'cuda'], default='cuda')
    parser.add_argument(
        '--amp',
        choices=sorted(AMP_DTYPES),
        default=None,
        help='mixed precision dtype (default: fp32)',
    )
    parser.add_argument(
        '--batch-size',
        type=int,
        default=None,
        help="images per step (default: the config's train_dataloader.batch_size)",
    )
    parser.add_argument(
        '--img-size',
        type=int,
        nargs='+',
        default=None,
        help='input H [W] instead of the config size',
    )
    parser.add_argument('--iters', type=int, default=10, help='timed rounds per pair')
    parser.add_argument('--warmup', type=int, default=3, help='untimed steps per model')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        help='key=value overrides applied to both configs of every pair',
    )
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--json', dest='json_out', default=None, help='write the figures to this JSON file'
    )
    args = parser.parse_args(argv)
    if args.iters < 1 or args.warmup < 0:
        parser.error('--iters must be >= 1 and --warmup >= 0')
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: torch sees no CUDA device')
    return args


def resolve_pairs(entries):
    """``[(name, diverse, baseline, baseline_edit)]``; missing default pairs
    are skipped with a note, a missing explicit file is an error."""
    pairs = []
    for entry in entries:
        if entry in DEFAULT_PAIRS:
            diverse, baseline, *edit = DEFAULT_PAIRS[entry]
            diverse, baseline = osp.join(REPO_ROOT, diverse), osp.join(REPO_ROOT, baseline)
            missing = [p for p in (diverse, baseline) if not osp.isfile(p)]
            if missing:
                print(
                    f'note: skipping pair {entry}: '
                    f'{", ".join(osp.relpath(p, REPO_ROOT) for p in missing)} not found'
                )
                continue
            pairs.append((entry, diverse, baseline, edit[0] if edit else None))
            continue
        parts = entry.split(',')
        if len(parts) != 2:
            raise SystemExit(
                f'--pairs {entry!r}: expected a default pair name '
                f'({", ".join(DEFAULT_PAIRS)}) or DIVERSE.py,BASELINE.py'
            )
        for path in parts:
            if not osp.isfile(path):
                raise SystemExit(f'--pairs {entry!r}: config file not found: {path}')
        name = osp.splitext(osp.basename(parts[0]))[0]
        pairs.append((name, parts[0], parts[1], None))
    return pairs


def parse_cfg_options(options):
    from mmengine.config import DictAction

    parsed = {}
    for option in options:
        if '=' not in option:
            raise SystemExit(f'--cfg-options {option!r}: expected key=value')
        key, value = option.split('=', 1)
        parsed[key] = DictAction._parse_iterable(value)
    return parsed


class StepRunner:
    """One config's model, optim wrapper and synthetic batches on a device."""

    def __init__(self, config, args, cfg_options, edit=None):
        from mmengine.config import Config
        from mmengine.optim import build_optim_wrapper

        from mmdiverse.apis import build_model

        self.config = config
        cfg = Config.fromfile(config)
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
        if edit is not None:
            edit(cfg)
        self.device = torch.device(args.device)
        self.autocast = contextlib.nullcontext
        optim_cfg = cfg.optim_wrapper.copy()
        if args.amp and args.device == 'cuda':
            optim_cfg['type'] = 'AmpOptimWrapper'
            optim_cfg['dtype'] = {'bf16': 'bfloat16', 'fp16': 'float16'}[args.amp]
            optim_cfg.setdefault('loss_scale', 'dynamic')
        else:
            if args.device == 'cpu' and optim_cfg.get('type') == 'AmpOptimWrapper':
                # mmengine's AmpOptimWrapper needs a GPU (the Diverse-ViT configs
                # train with AMP): plain steps, under CPU autocast if --amp is given.
                optim_cfg['type'] = 'OptimWrapper'
                for key in ('loss_scale', 'dtype', 'use_fsdp'):
                    optim_cfg.pop(key, None)
            if args.amp:
                dtype = AMP_DTYPES[args.amp]
                self.autocast = lambda: torch.autocast('cpu', dtype=dtype)
        self.model = build_model(cfg).to(self.device)
        self.model.train()
        self.optim_wrapper = build_optim_wrapper(self.model, optim_cfg)
        self.batches = SyntheticBatches(
            cfg, self.model, args.batch_size, args.img_size, seed=args.seed
        )
        self.batch_size = self.batches.batch_size
        self.step_s, self.peak_bytes, self.log_vars = [], 0, {}

    def step(self, timed):
        """One training step; its seconds (and peak memory) recorded if ``timed``."""
        data = self.batches.next()
        peak = PeakMemory(self.device)
        with peak:
            clock = StepClock(self.device)
            with clock, self.autocast():
                log_vars = self.model.train_step(data, self.optim_wrapper)
        if timed:
            self.step_s.append(clock.seconds)
            self.peak_bytes = max(self.peak_bytes, peak.bytes)
        self.log_vars = log_vars

    def loss_values(self):
        """``{name: float}`` of the last step's logged terms (one sync, after timing)."""
        return {
            k: float(v.detach().float().cpu()) if torch.is_tensor(v) else float(v)
            for k, v in self.log_vars.items()
        }

    def release(self):
        del self.model, self.optim_wrapper, self.batches
        if self.device.type == 'cuda':
            torch.cuda.empty_cache()


class StepClock:
    """CUDA events on the GPU, ``perf_counter`` on the CPU."""

    def __init__(self, device):
        self.cuda = device.type == 'cuda'
        self.seconds = None

    def __enter__(self):
        if self.cuda:
            torch.cuda.synchronize()
            self.start, self.end = (torch.cuda.Event(enable_timing=True) for _ in range(2))
            self.start.record()
        else:
            self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if self.cuda:
            self.end.record()
            self.end.synchronize()
            self.seconds = self.start.elapsed_time(self.end) / 1e3
        else:
            self.seconds = time.perf_counter() - self.t0
        return False


class PeakMemory:
    """Peak bytes during the block: ``max_memory_allocated`` on the GPU,
    ``VmHWM`` (reset through ``/proc/self/clear_refs``) on the CPU."""

    def __init__(self, device):
        self.cuda = device.type == 'cuda'
        self.bytes = 0

    @staticmethod
    def _vm_hwm():
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM'):
                    return int(line.split()[1]) * 1024
        return 0

    def __enter__(self):
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
        elif osp.exists('/proc/self/clear_refs'):
            try:
                with open('/proc/self/clear_refs', 'w') as f:
                    f.write('5')
            except OSError:
                pass  # not permitted: the high-water mark then spans the process
        return self

    def __exit__(self, *exc):
        self.bytes = torch.cuda.max_memory_allocated() if self.cuda else self._vm_hwm()
        return False


def benchmark_pair(name, diverse_cfg, baseline_cfg, args, cfg_options, baseline_edit=None):
    """Warm up both, alternate timed steps; the pair's figures."""
    torch.manual_seed(args.seed)
    runners = dict(
        diverse=StepRunner(diverse_cfg, args, cfg_options),
        baseline=StepRunner(baseline_cfg, args, cfg_options, baseline_edit),
    )
    for _ in range(args.warmup):
        for runner in runners.values():
            runner.step(timed=False)
    ratios = []
    for i in range(args.iters):
        order = ('diverse', 'baseline') if i % 2 == 0 else ('baseline', 'diverse')
        for key in order:
            runners[key].step(timed=True)
        div_s, base_s = runners['diverse'].step_s[-1], runners['baseline'].step_s[-1]
        ratios.append(base_s / div_s)
        print(
            f'  {name} round {i + 1}/{args.iters}: diverse {div_s:.3f} s, baseline {base_s:.3f} s',
            flush=True,
        )
    costs = [1 / r for r in ratios]  # diverse step time / baseline step time, per round
    quartiles = (
        statistics.quantiles(costs, n=4, method='inclusive')[::2] if len(costs) > 1 else costs * 2
    )
    row = dict(
        pair=name,
        device=args.device,
        amp=args.amp or 'fp32',
        iters=args.iters,
        warmup=args.warmup,
        throughput_ratio=statistics.median(ratios),
        ratios=ratios,
        step_cost_ratio=statistics.median(costs),
        step_cost_quartiles=quartiles,
    )
    for key, runner in runners.items():
        row[f'{key}_model'] = type(runner.model).__name__
        median_s = statistics.median(runner.step_s)
        losses = runner.loss_values()
        row[key] = dict(
            config=osp.relpath(runner.config, REPO_ROOT),
            batch_size=runner.batch_size,
            img_size=list(runner.batches.img_size),
            median_step_s=median_s,
            img_per_s=runner.batch_size / median_s,
            step_s=runner.step_s,
            peak_mib=runner.peak_bytes / 2**20,
            losses=losses,
            non_finite=sorted(k for k, v in losses.items() if not math.isfinite(v)),
        )
        runner.release()
    return row


def format_table(rows):
    header = (
        'pair',
        'B',
        'size',
        'diverse img/s',
        'baseline img/s',
        'ratio',
        'step cost (quartiles)',
        'diverse peak MiB',
        'baseline peak MiB',
        'loss terms',
    )
    lines = [header]
    for r in rows:
        d, b = r['diverse'], r['baseline']
        bad = d['non_finite'] + b['non_finite']
        lines.append(
            (
                r['pair'],
                str(d['batch_size']),
                'x'.join(map(str, d['img_size'])),
                f'{d["img_per_s"]:.2f}',
                f'{b["img_per_s"]:.2f}',
                f'{r["throughput_ratio"]:.3f}',
                '{:.3f} ({:.3f}-{:.3f})'.format(r['step_cost_ratio'], *r['step_cost_quartiles']),
                f'{d["peak_mib"]:.0f}',
                f'{b["peak_mib"]:.0f}',
                'finite' if not bad else 'NON-FINITE: ' + ', '.join(bad),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = ['| ' + ' | '.join(c.ljust(w) for c, w in zip(line, widths)) + ' |' for line in lines]
    out.insert(1, '|' + '|'.join('-' * (w + 2) for w in widths) + '|')
    return '\n'.join(out)


def main(argv=None):
    args = parse_args(argv)
    from mmengine.logging import MMLogger

    import mmdiverse  # noqa: F401  (registers the models, hooks and compat fixes)

    # The current logger: mmengine's per-parameter build messages stay out of the table.
    MMLogger.get_instance('benchmark_step', log_level='WARNING')
    pairs = resolve_pairs(args.pairs)
    if not pairs:
        raise SystemExit('no pair to benchmark')
    cfg_options = parse_cfg_options(args.cfg_options)
    device = (
        torch.cuda.get_device_name()
        if args.device == 'cuda'
        else f'cpu ({torch.get_num_threads()} threads)'
    )
    print(
        f'device: {device}; torch {torch.__version__}; amp: {args.amp or "fp32"}; '
        f'{args.warmup} warm-up steps, {args.iters} alternated rounds'
    )
    rows, failed = [], []
    for name, diverse, baseline, edit in pairs:
        try:
            rows.append(benchmark_pair(name, diverse, baseline, args, cfg_options, edit))
        except torch.cuda.OutOfMemoryError as error:
            # One pair too large for the device: report it, measure the others.
            print(
                f'note: pair {name} ran out of GPU memory ({str(error).splitlines()[0]}); '
                'try a smaller --batch-size for it',
                flush=True,
            )
            failed.append(name)
            gc.collect()
            torch.cuda.empty_cache()
            continue
        print(f'done: {name}', flush=True)
    if not rows:
        raise SystemExit(f'no pair finished (out of memory: {", ".join(failed)})')
    print(format_table(rows))
    if failed:
        print(f'not measured (out of GPU memory): {", ".join(failed)}')
    print(
        'ratio: diverse/baseline img/s, median over the alternated rounds; step cost: '
        'diverse/baseline step time, median and quartiles over the rounds; peak memory '
        'includes both models of the pair ('
        + ('torch.cuda.max_memory_allocated' if args.device == 'cuda' else 'RSS high-water mark')
        + ')'
    )
    if args.json_out:
        os.makedirs(osp.dirname(osp.abspath(args.json_out)), exist_ok=True)
        with open(args.json_out, 'w') as f:
            json.dump(
                dict(device=device, torch=torch.__version__, rows=rows, out_of_memory=failed),
                f,
                indent=1,
            )
    return rows, failed


if __name__ == '__main__':
    sys.exit(1 if main()[1] else 0)
