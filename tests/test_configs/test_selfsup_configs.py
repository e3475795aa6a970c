"""The self-supervised configs (docs/selfsup.md): each baseline is the published recipe
(mmpretrain's MAE / SimMIM, mmseg's MAE UperNet, mmpretrain's MAE fine-tuning) apart from
this project's runtime opt-in; each diverse config differs from its baseline only in the
terms; every config builds and trains one step on the CPU."""

import os.path as osp

import pytest
import torch
from mmengine.config import Config, ConfigDict

from tests.helpers.tools import REPO_ROOT

CONFIGS = osp.join(REPO_ROOT, 'configs')
#: baseline config -> the published recipe it inherits unchanged.
MAE, SIMMIM = 'mmpretrain/mae/', 'mmpretrain/simmim/'
RECIPES = {
    'pretrain/mae_vit_b_baseline.py': MAE + 'mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py',
    'pretrain/mae_vit_b_baseline_1600e.py': MAE + 'mae_vit-base-p16_8xb512-amp-coslr-1600e_in1k.py',
    'pretrain/simmim_swin_b_baseline.py': SIMMIM
    + 'simmim_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px.py',
    'finetune/mae_vit_b_in1k.py': MAE + 'benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py',
    'seg/upernet_mae_vit_b_ade20k.py': 'mmseg/mae/mae-base_upernet_8xb2-amp-160k_ade20k-512x512.py',
}


def _runtime_keys():
    """This project's runtime opt-in: every top-level key of the runtime fragments
    (configs/{pretrain,seg}/_base_/mmdiverse_runtime.py), the hooks, the checkpoint hook
    class and the export hook (the strict loaders are read back as stock by _flat)."""
    keys = {'custom_hooks', 'default_hooks.checkpoint.type', 'default_hooks.export_meta'}
    for kind in ('pretrain', 'seg'):
        keys |= set(
            Config.fromfile(
                osp.join(CONFIGS, kind, '_base_', 'mmdiverse_runtime.py'),
                import_custom_modules=False,
            )
        )
    return tuple(sorted(keys))


RUNTIME_KEYS = _runtime_keys()
STRICT_LOADERS = {
    'CheckedLoadImageFromFile': 'LoadImageFromFile',
    'CheckedLoadAnnotations': 'LoadAnnotations',
}
PAIRS = [('mae_vit_b', ''), ('mae_vit_b', '_1600e'), ('simmim_swin_b', '')]
DIVERSE = [f'pretrain/{m}_diverse{s}.py' for m, s in PAIRS]
SEG = [
    'seg/upernet_mae_vit_b_ade20k.py',
    'seg/upernet_mae_vit_b_ade20k_baseline.py',
    'seg/upernet_simmim_swin_b_ade20k.py',
    'seg/upernet_simmim_swin_b_ade20k_baseline.py',
]
DEMO = [
    'demo/mae_vit_tiny_shapes.py',
    'demo/mae_vit_tiny_shapes_diverse.py',
    'demo/upernet_mae_vit_tiny_shapes.py',
]
FULL_SIZE = sorted(set(RECIPES) | set(DIVERSE) | set(SEG))


def _load(name):
    if name.startswith(('mmpretrain/', 'mmseg/')):
        import importlib

        package, relative = name.split('/', 1)
        root = osp.dirname(importlib.import_module(package).__file__)
        return Config.fromfile(osp.join(root, '.mim', 'configs', relative))
    return Config.fromfile(osp.join(CONFIGS, name))


def _flat(obj, prefix=''):
    """``{'a.b.0.c': value}`` without mmengine's ``_scope_`` entries; strict
    loaders read as the stock transforms they stand in for."""
    if isinstance(obj, (dict, ConfigDict)):
        if obj.get('type') in STRICT_LOADERS:
            obj = {k: v for k, v in obj.items() if k != 'num_classes'}
            obj['type'] = STRICT_LOADERS[obj['type']]
        out = {}
        for key, value in obj.items():
            if key != '_scope_':
                out.update(_flat(value, f'{prefix}{key}.'))
        return out
    if isinstance(obj, (list, tuple)):
        out = {}
        for i, value in enumerate(obj):
            out.update(_flat(value, f'{prefix}{i}.'))
        return out
    return {prefix[:-1]: obj}


def _diff(a, b):
    fa, fb = _flat(a._cfg_dict.to_dict()), _flat(b._cfg_dict.to_dict())
    return {k for k in set(fa) | set(fb) if fa.get(k, '<missing>') != fb.get(k, '<missing>')}


def _not_runtime(keys):
    return {k for k in keys if not any(k == r or k.startswith(r + '.') for r in RUNTIME_KEYS)}


@pytest.mark.parametrize('name', sorted(RECIPES))
def test_baseline_is_the_published_recipe_apart_from_the_runtime_opt_in(name):
    ours, recipe = _load(name), _load(RECIPES[name])
    expected = (
        {'pretrained', 'model.backbone.init_cfg.checkpoint'}
        if name.startswith('finetune')
        else set()
    )
    if name.startswith('seg'):
        expected = {
            'pretrained',
            'model.type',
            'model.pretrained',
            'model.backbone.init_cfg.type',
            'model.backbone.init_cfg.checkpoint',
            'model.backbone.init_cfg.prefix',
            'optim_wrapper.type',
            'optim_wrapper.loss_scale',
        }
        expected |= {
            k
            for k in _flat(ours.model.to_dict(), 'model.')
            if k.startswith('model.backbone_transfer.')
        }
    assert _not_runtime(_diff(ours, recipe)) == expected
    assert ours.custom_imports.imports[0] == 'mmdiverse'
    assert {'NonFiniteLossHook', 'RandomStateHook'} <= {h.type for h in ours.custom_hooks}
    pipeline = ours.train_dataloader.dataset.pipeline
    assert pipeline[0].type == 'CheckedLoadImageFromFile'


def test_the_1600_epoch_variant_differs_only_in_length():
    short, long = (
        _load('pretrain/mae_vit_b_baseline.py'),
        _load('pretrain/mae_vit_b_baseline_1600e.py'),
    )
    assert _diff(short, long) == {
        'param_scheduler.1.T_max',
        'param_scheduler.1.end',
        'train_cfg.max_epochs',
    }
    assert (long.train_cfg.max_epochs, long.param_scheduler[1].T_max) == (1600, 1560)


def test_mae_upernet_keeps_mmsegs_values_and_trains_with_real_amp():
    cfg = _load('seg/upernet_mae_vit_b_ade20k.py')
    optim = cfg.optim_wrapper
    assert (optim.type, optim.loss_scale, optim.constructor) == (
        'AmpOptimWrapper',
        'dynamic',
        'LayerDecayOptimizerConstructor',
    )
    assert optim.paramwise_cfg == dict(num_layers=12, layer_decay_rate=0.65)
    assert (optim.optimizer.type, optim.optimizer.lr, optim.optimizer.weight_decay) == (
        'AdamW',
        1e-4,
        0.05,
    )
    assert cfg.train_cfg.max_iters == 160000 and cfg.param_scheduler[-1].end == 160000
    assert cfg.crop_size == (512, 512) and cfg.model.test_cfg.mode == 'slide'
    assert cfg.model.backbone.type == 'MAE' and cfg.model.type == 'TransferEncoderDecoder'
    assert (
        cfg.model.backbone.init_cfg.checkpoint == 'work_dirs/mae_vit_b_diverse/backbone_export.pth'
    )


def test_simmim_upernet_is_the_swin_b_recipe_from_the_simmim_export():
    ours, recipe = (
        _load('seg/upernet_simmim_swin_b_ade20k.py'),
        _load('seg/upernet_swin_b_ade20k.py'),
    )
    assert _diff(ours, recipe) == {
        'pretrained',
        'model.backbone.init_cfg.checkpoint',
        'model.backbone_transfer.dropped_keys.0',
    }
    assert ours.model.backbone_transfer.dropped_keys == ['mask_token']
    assert (
        ours.model.backbone.init_cfg.checkpoint
        == 'work_dirs/simmim_swin_b_diverse/backbone_export.pth'
    )


@pytest.mark.parametrize(
    'name, weights',
    [
        (
            'seg/upernet_mae_vit_b_ade20k_baseline.py',
            'mae_vit-base-p16_8xb512-amp-coslr-1600e_in1k',
        ),
        (
            'seg/upernet_simmim_swin_b_ade20k_baseline.py',
            'simmim_swin-base-w6_8xb256-amp-coslr-100e_in1k-192px',
        ),
    ],
)
def test_seg_baselines_load_mmpretrains_published_weights(name, weights):
    """The checkpoint URL is the one mmpretrain's model-zoo metafile gives."""
    import mmpretrain
    import yaml

    family = weights.split('_')[0]
    meta = yaml.safe_load(
        open(osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'configs', family, 'metafile.yml'))
    )
    url = next(m['Weights'] for m in meta['Models'] if m['Name'] == weights)
    cfg, diverse = _load(name), _load(name.replace('_baseline', ''))
    assert cfg.model.backbone.init_cfg.checkpoint == url
    assert _diff(cfg, diverse) == {'pretrained', 'model.backbone.init_cfg.checkpoint'}


@pytest.mark.parametrize('model_name, suffix', PAIRS)
def test_diverse_pretraining_differs_from_its_baseline_only_in_the_terms(model_name, suffix):
    diverse = _load(f'pretrain/{model_name}_diverse{suffix}.py')
    baseline = _load(f'pretrain/{model_name}_baseline{suffix}.py')
    assert {
        k.split('.')[0] + '.' + k.split('.')[1]
        for k in _diff(diverse, baseline)
        if k.startswith('model.')
    } <= {'model.type', 'model.diversity'}
    assert {k.split('.')[0] for k in _diff(diverse, baseline)} <= {'model', 'ssl_diversity'}
    assert diverse.model.type == ('DiverseMAE' if model_name.startswith('mae') else 'DiverseSimMIM')
    terms = {
        k for k in diverse.model.diversity if k != 'tap' and 'type' in diverse.model.diversity[k]
    }
    assert terms == {'patch_cos', 'patch_contrast', 'attn_div', 'weight_cond'}  # no labels


def _images(n, size):
    gen = torch.Generator().manual_seed(0)
    return [
        torch.randint(0, 256, (3, size, size), dtype=torch.uint8, generator=gen) for _ in range(n)
    ]


def _selfsup_batch(cfg, size):
    """Two images through the rest of the recipe's own pipeline and collate."""
    import numpy as np
    from mmengine.dataset import Compose
    from mmengine.registry import FUNCTIONS

    pipeline = Compose(cfg.train_dataloader.dataset.pipeline[1:])
    samples = [
        pipeline(
            dict(
                img=img.permute(1, 2, 0).numpy().astype(np.uint8),
                img_shape=(size, size),
                ori_shape=(size, size),
            )
        )
        for img in _images(2, size)
    ]
    collate = FUNCTIONS.get(
        cfg.train_dataloader.get('collate_fn', {}).get('type', 'pseudo_collate')
    )
    return collate(samples)


def _seg_batch(size):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    samples = []
    for img in _images(2, size):
        sample = SegDataSample(
            metainfo=dict(img_shape=(size, size), ori_shape=(size, size), pad_shape=(size, size))
        )
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 4, (1, size, size)))
        samples.append(sample)
    return dict(inputs=_images(2, size), data_samples=samples)


def _reduce_for_the_cpu(name, cfg):
    """Input sizes a CPU step affords; the models keep their full width and depth."""
    if name.startswith('seg/upernet_mae'):
        cfg.model.backbone.img_size = (128, 128)  # mmseg's MAE fixes its grid
        cfg.model.data_preprocessor.size = (128, 128)
        cfg.model.decode_head.num_classes = cfg.model.auxiliary_head.num_classes = 4
        return 128
    if name.startswith(('seg/', 'demo/upernet')):
        cfg.model.data_preprocessor.size = (64, 64)
        return 64
    return None


@pytest.mark.parametrize(
    'name', [pytest.param(n, marks=pytest.mark.slow) for n in FULL_SIZE] + DEMO
)
def test_config_builds_and_trains_one_step(name):
    """The config's model, optimizer wrapper (its constructor: layer decay, paramwise keys)
    and loss: one optimizer step on the CPU, every loss finite, the weights moved. AMP
    wrappers run as plain OptimWrapper (mmengine's AMP needs a GPU)."""
    from mmengine.optim import build_optim_wrapper

    import mmdiverse  # noqa: F401
    from mmdiverse.apis import build_model

    cfg = _load(name)
    cfg.model.get('backbone', {}).pop('init_cfg', None)  # no checkpoint file here
    size = _reduce_for_the_cpu(name, cfg)
    torch.manual_seed(0)
    model = build_model(cfg)
    model.init_weights()
    model.train()
    optim_cfg = cfg.optim_wrapper.copy()
    if optim_cfg.get('type') == 'AmpOptimWrapper':
        optim_cfg.type = 'OptimWrapper'
        optim_cfg.pop('loss_scale')
    optim_wrapper = build_optim_wrapper(model, optim_cfg)
    if size is not None:
        data = _seg_batch(size)
    elif cfg.model.type in ('ImageClassifier',):
        from mmpretrain.structures import DataSample

        data = dict(
            inputs=_images(2, 224), data_samples=[DataSample().set_gt_label(i) for i in (3, 7)]
        )
    else:
        img = cfg.model.backbone.get('img_size', 224)
        data = _selfsup_batch(cfg, img)
    before = {k: v.clone() for k, v in model.backbone.state_dict().items() if v.is_floating_point()}
    log_vars = model.train_step(data, optim_wrapper)
    assert all(torch.isfinite(torch.as_tensor(v)) for v in log_vars.values()), log_vars
    if 'Diverse' in cfg.model.type:
        assert 'loss_rec' in log_vars and 'loss_patch_cos' in log_vars, sorted(log_vars)
    after = model.backbone.state_dict()
    assert any(not torch.equal(after[k], v) for k, v in before.items()), 'no weight moved'
