"""The training objective of one step under two configs, term by term.

Builds the model of each config (``mmdiverse.apis.build_model``, as the
``Runner`` does), gives both the same weights (``--checkpoint``, or the first
model's seeded initialization copied into the second: the configs must
describe the same architecture), and runs one training forward and backward
on the same batch: the config's data preprocessor with one of its batch
augments forced (``--augment``), the model's ``loss`` and mmengine's
``parse_losses`` (the sum of the ``loss*`` keys, i.e. what the optimizer
steps on). The random state (Python, NumPy, torch) is reset to ``--seed``
before each model's step, so both draw the same mixing ratio, box centre,
pairing permutation and random vectors where their configs sample alike;
``--lam`` fixes the mixing ratio. Dropout and stochastic depth are switched
off (``--keep-dropout`` keeps them) so that the two steps differ only in
their objectives.

Printed: every logged key of both steps (loss terms and diagnostics), the
totals, the gradient norm of each and the relative difference
``||g_a - g_b|| / ||g_b||`` and cosine of the two gradients over the
parameters. The batch is synthetic (random uint8 images shaped as the
config's input ``model.backbone.img_size`` or ``--img-size``, random
labels).

Usage::

    python tools/analysis/compare_objectives.py \\
        configs/pretrain/deit_s12_diverse.py configs/pretrain/diverse_vit/deit_s12.py \\
        --batch-size 8 --augment cutmix --seed 0 --out work_dirs/objectives.json
"""

import argparse
import contextlib
import json
import os.path as osp
import random

import numpy as np
import torch

#: ``--augment`` -> substring of the batch augment's class name.
AUGMENT_KINDS = {'cutmix': 'CutMix', 'mixup': 'Mixup'}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('configs', nargs=2, help='the two configs (a, b)')
    parser.add_argument('--labels', nargs=2, help='names of the two configs')
    parser.add_argument(
        '--checkpoint',
        help='weights for both models (default: the '
        'seeded initialization of the first, copied into the second)',
    )
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument(
        '--img-size', type=int, nargs='+', help="H [W] (default: the config's input size)"
    )
    parser.add_argument(
        '--augment',
        choices=['cutmix', 'mixup', 'none', 'config'],
        default='cutmix',
        help="batch augment to apply (config: the config's own random choice)",
    )
    parser.add_argument('--lam', type=float, help='fix the mixing ratio drawn by the augment')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--keep-dropout', action='store_true', help='keep dropout / stochastic depth active'
    )
    parser.add_argument('--out', help='write the numbers to this JSON file')
    parser.add_argument(
        '--cfg-options', nargs='+', default=[], help='key=value overrides applied to both configs'
    )
    return parser.parse_args(argv)


def load_config(path, options):
    from mmengine.config import Config, DictAction

    if not osp.isfile(path):
        raise FileNotFoundError(f'config file not found: {path}')
    cfg = Config.fromfile(path)
    if options:
        parser = argparse.ArgumentParser()
        parser.add_argument('--o', nargs='+', action=DictAction)
        cfg.merge_from_dict(parser.parse_args(['--o', *options]).o)
    return cfg


def synthetic_batch(cfg, batch_size, img_size, seed):
    """``dict(inputs=[uint8 (3, H, W)], data_samples=[DataSample])`` as the
    dataloader delivers it: random images and labels from ``seed``."""
    from mmpretrain.structures import DataSample

    if img_size:
        height, width = (img_size * 2)[:2]
    else:
        size = cfg.model.get('backbone', {}).get('img_size')
        if size is None:
            raise ValueError(f'{cfg.filename}: model.backbone.img_size is not set; pass --img-size')
        height, width = (size, size) if isinstance(size, int) else size
    num_classes = cfg.model.get('head', {}).get('num_classes')
    if num_classes is None:
        raise ValueError(f'{cfg.filename}: model.head.num_classes is not set')
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (batch_size, 3, height, width), dtype=torch.uint8, generator=gen)
    labels = torch.randint(0, num_classes, (batch_size,), generator=gen).tolist()
    return dict(
        inputs=list(images),
        data_samples=[
            DataSample(
                metainfo=dict(img_shape=(height, width), ori_shape=(height, width))
            ).set_gt_label(label)
            for label in labels
        ],
    )


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def disable_dropout(model):
    """Dropout probabilities and stochastic-depth rates to 0."""
    for module in model.modules():
        if isinstance(module, torch.nn.modules.dropout._DropoutNd):
            module.p = 0.0
        if hasattr(module, 'drop_prob'):
            module.drop_prob = 0.0


def unmixed(inputs, scores):
    """A batch augment that mixes nothing."""
    return inputs, scores.float()


@contextlib.contextmanager
def forced_augment(model, kind, label):
    """Make the preprocessor's batch-augment wrapper pick ``kind``."""
    wrapper = getattr(model.data_preprocessor, 'batch_augments', None)
    if kind == 'config':
        yield
        return
    augments = list(getattr(wrapper, 'augments', None) or [])
    if kind == 'none':  # the stock contract, unmixed (scores as floats)
        saved = model.data_preprocessor.batch_augments
        model.data_preprocessor.batch_augments = unmixed
        try:
            yield
        finally:
            model.data_preprocessor.batch_augments = saved
        return
    names = [type(a).__name__ for a in augments]
    matches = [i for i, name in enumerate(names) if AUGMENT_KINDS[kind] in name]
    if not matches:
        raise ValueError(
            f"{label}: --augment {kind}: the config's batch augments "
            f'(model.train_cfg.augments) are {names or "none"}'
        )
    saved = wrapper.probs
    wrapper.probs = [float(i == matches[0]) for i in range(len(augments))]
    try:
        yield
    finally:
        wrapper.probs = saved


def one_step(model, batch, args, label):
    """Loss dict, total and ``{name: grad}`` of one training step."""
    model.train()
    model.zero_grad(set_to_none=True)
    seed_everything(args.seed)
    lam_patch = mock_beta(args.lam) if args.lam is not None else contextlib.nullcontext()
    with forced_augment(model, args.augment, label), lam_patch:
        data = model.data_preprocessor(batch, training=True)
    losses = model._run_forward(data, mode='loss')
    total, _ = model.parse_losses(losses)  # sum of the 'loss*' keys
    total.backward()
    grads = {
        name: p.grad.detach().clone() for name, p in model.named_parameters() if p.grad is not None
    }
    logged = {
        key: float(torch.as_tensor(value).detach().float().mean()) for key, value in losses.items()
    }
    return logged, float(total.detach()), grads


def mock_beta(lam):
    from unittest import mock

    return mock.patch('numpy.random.beta', return_value=float(lam))


def build(cfg, device, keep_dropout):
    from mmdiverse.apis import build_model

    model = build_model(cfg).to(device)
    if not keep_dropout:
        disable_dropout(model)
    return model


def share_weights(model_a, model_b, checkpoint, labels):
    """Same parameters in both: a checkpoint, or a's init copied into b."""
    if checkpoint:
        from mmengine.runner import load_checkpoint

        for model in (model_a, model_b):
            load_checkpoint(model, checkpoint, map_location='cpu', strict=False)
        return
    model_a.init_weights()
    params_a = dict(model_a.named_parameters())
    params_b = dict(model_b.named_parameters())
    if set(params_a) != set(params_b):
        only_a = sorted(set(params_a) - set(params_b))[:5]
        only_b = sorted(set(params_b) - set(params_a))[:5]
        raise ValueError(
            f'the two models have different parameters (only in {labels[0]}: '
            f'{only_a}, only in {labels[1]}: {only_b}); compare configs of '
            'the same architecture or pass --checkpoint'
        )
    with torch.no_grad():
        for name, p in params_b.items():
            if p.shape != params_a[name].shape:
                raise ValueError(
                    f'parameter {name}: {tuple(params_a[name].shape)} in '
                    f'{labels[0]}, {tuple(p.shape)} in {labels[1]}'
                )
            p.copy_(params_a[name])


def gradient_stats(grads_a, grads_b):
    common = sorted(set(grads_a) & set(grads_b))
    flat_a = torch.cat([grads_a[k].flatten().double().cpu() for k in common])
    flat_b = torch.cat([grads_b[k].flatten().double().cpu() for k in common])
    return dict(
        grad_norm_a=float(flat_a.norm()),
        grad_norm_b=float(flat_b.norm()),
        rel_diff=float((flat_a - flat_b).norm() / flat_b.norm().clamp_min(1e-30)),
        cosine=float(torch.nn.functional.cosine_similarity(flat_a, flat_b, dim=0)),
    )


def main(argv=None):
    args = parse_args(argv)
    from mmengine.logging import MMLogger

    import mmdiverse  # noqa: F401  (registers the modules)

    # init_weights logs every parameter at INFO
    MMLogger.get_instance('mmengine', log_level='WARNING')
    labels = args.labels or [osp.splitext(osp.basename(c))[0] for c in args.configs]
    cfgs = [load_config(c, args.cfg_options) for c in args.configs]
    seed_everything(args.seed)
    models = [build(cfg, args.device, args.keep_dropout) for cfg in cfgs]
    seed_everything(args.seed)
    share_weights(*models, args.checkpoint, labels)
    steps = [
        one_step(
            model, synthetic_batch(cfgs[0], args.batch_size, args.img_size, args.seed), args, label
        )
        for model, label in zip(models, labels)
    ]
    (logs_a, total_a, grads_a), (logs_b, total_b, grads_b) = steps
    keys = list(logs_a) + [k for k in logs_b if k not in logs_a]
    width = max(len(k) for k in keys + ['total (optimized)'])
    print(f'{"":{width}}  {labels[0]:>14}  {labels[1]:>14}')
    for key in keys:
        a, b = logs_a.get(key), logs_b.get(key)
        cells = [f'{v:14.6f}' if v is not None else f'{"-":>14}' for v in (a, b)]
        print(f'{key:{width}}  {cells[0]}  {cells[1]}')
    print(f'{"total (optimized)":{width}}  {total_a:14.6f}  {total_b:14.6f}')
    stats = gradient_stats(grads_a, grads_b)
    print(
        f'gradient norm: {stats["grad_norm_a"]:.6g} ({labels[0]}), '
        f'{stats["grad_norm_b"]:.6g} ({labels[1]}); ||g_a - g_b|| / ||g_b|| = '
        f'{stats["rel_diff"]:.4g}, cosine {stats["cosine"]:.4f}'
    )
    result = dict(
        configs=dict(zip(labels, args.configs)),
        seed=args.seed,
        batch_size=args.batch_size,
        augment=args.augment,
        lam=args.lam,
        terms={labels[0]: logs_a, labels[1]: logs_b},
        totals={labels[0]: total_a, labels[1]: total_b},
        gradients=stats,
    )
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == '__main__':
    main()
