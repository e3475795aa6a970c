"""configs/pretrain/in100 and the ImageNet-100 UperNet: ContraNorm's 24-layer DeiT setting
value for value (docs/in100.md), our terms as the only difference, and one training step of
each config at full size in the lite install."""

import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from tools.dataset_converters import imagenet_subset

CONFIG_ROOT = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs')
PRETRAIN = ['deit_24l_baseline', 'deit_24l_diverse', 'deit_24l_diverse_vit']
SEG = 'seg/upernet_deit_24l_in100_ade20k_40k.py'


def load(name):
    return Config.fromfile(osp.join(CONFIG_ROOT, name))


def flat(cfg):
    out = {}

    def walk(obj, prefix):
        if isinstance(obj, dict):
            for key, value in obj.items():
                walk(value, f'{prefix}{key}.')
        else:
            out[prefix[:-1]] = obj

    walk(cfg.to_dict(), '')
    return out


@pytest.fixture(scope='module')
def in100_root(tmp_path_factory):
    """A tiny ImageNet-100 made by the subset tool: one 40 px JPEG per class and split."""
    from PIL import Image

    root = tmp_path_factory.mktemp('imagenet')
    rng = np.random.default_rng(0)
    for wnid in imagenet_subset.read_class_list(imagenet_subset.DEFAULT_CLASSES).wnids:
        for split in ('train', 'val'):
            os.makedirs(root / split / wnid)
            pixels = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / split / wnid / f'{wnid}_0.JPEG')
    out = str(root.parent / 'imagenet100')
    imagenet_subset.main([str(root), out, '--counts', 'any'])
    return out


def test_baseline_is_contranorms_setting():
    cfg = load('pretrain/in100/deit_24l_baseline.py')
    backbone = cfg.model.backbone
    assert dict(backbone.arch) == dict(
        embed_dims=192, num_layers=24, num_heads=3, feedforward_channels=768
    )  # deit_tiny, --depth 24
    assert (backbone.patch_size, backbone.img_size, backbone.drop_path_rate) == (16, 224, 0.1)
    assert cfg.model.head.num_classes == cfg.data_preprocessor.num_classes == 100
    assert cfg.model.head.loss == dict(
        type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'
    )
    assert cfg.model.train_cfg.augments == [
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0),
    ]
    # 512 images per step (2 x 256 in run.sh), lr 5e-4 x 512 / 512, AdamW, wd 0.05, AMP
    assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == 512
    assert cfg.auto_scale_lr.enable
    optim = cfg.optim_wrapper
    assert (optim.type, optim.clip_grad) == ('AmpOptimWrapper', None)
    assert (optim.optimizer.type, optim.optimizer.lr, optim.optimizer.weight_decay) == (
        'AdamW',
        5e-4,
        0.05,
    )
    (scheduler,) = cfg.param_scheduler
    assert (
        scheduler.type,
        scheduler.t_initial,
        scheduler.warmup_t,
        scheduler.warmup_lr_init,
        scheduler.lr_min,
    ) == ('TimmEpochCosineLR', 300, 5, 1e-6, 1e-5)
    assert cfg.train_cfg.max_epochs == 300
    ema = [h for h in cfg.custom_hooks if h.type == 'EMAHook']
    assert ema and ema[0].momentum == pytest.approx(1 - 0.99996) and not ema[0].evaluate_on_ema
    pipeline = {t.type: t for t in cfg.train_dataloader.dataset.pipeline}
    assert pipeline['RandAugment'].magnitude_level == 9
    assert pipeline['RandAugment'].magnitude_std == 0.5
    assert pipeline['RandomErasing'].erase_prob == 0.25
    assert cfg.train_dataloader.sampler == dict(
        type='RepeatAugSampler', shuffle=True, num_repeats=3, _scope_='mmpretrain'
    )
    val = [t.type for t in cfg.val_dataloader.dataset.pipeline]
    assert val[1:3] == ['ResizeEdge', 'CenterCrop']
    for split in ('train', 'val', 'test'):
        dataset = cfg[f'{split}_dataloader'].dataset
        assert dataset.data_root == 'data/imagenet100'
        assert dataset.classes == 'data/imagenet100/meta/classes.txt'


def test_diverse_configs_differ_only_in_the_objective():
    baseline, diverse, dvit = (flat(load(f'pretrain/in100/{n}.py')) for n in PRETRAIN)
    helpers = ('diversity_', 'patch_cutmix_')
    changed = {
        k
        for k in set(baseline) | set(diverse)
        if baseline.get(k, '-') != diverse.get(k, '-') and not k.startswith(helpers)
    }
    assert {k.split('.')[1] for k in changed} <= {'type', 'diversity', 'train_cfg'}, changed
    assert diverse['model.type'] == 'DiverseImageClassifier'
    changed = {k for k in set(diverse) | set(dvit) if diverse.get(k, '-') != dvit.get(k, '-')}
    assert {'.'.join(k.split('.')[:2]) for k in changed} <= {
        'model.diversity',
        'model.train_cfg',
    }, changed
    assert dvit['model.diversity.patch_cos.absolute'] is False
    assert dvit['model.diversity.tap.similarity_tokens'] == 'pre_norm'


@pytest.mark.parametrize('name', PRETRAIN)
def test_header_states_the_comparison_and_an_estimate(name):
    header = [
        line
        for line in open(osp.join(CONFIG_ROOT, 'pretrain', 'in100', f'{name}.py'))
        if line.startswith('#')
    ]
    text = ''.join(header)
    assert len(header) <= 5 and 'docs/fidelity.md' in text and 'docs/in100.md' in text
    assert ('76.76' in text) if name.endswith('baseline') else ("this project's design" in text)
    assert 'Estimate' in text and 'GPU-hours' in text and '8 GPUs' in text


@pytest.mark.slow
@pytest.mark.parametrize('name', PRETRAIN)
def test_config_trains_one_step(name, in100_root):
    """Full-size model, the config's own train pipeline on two ImageNet-100 images, its
    optimizer (AMP as a plain OptimWrapper: mmengine's AMP needs a GPU) and one step."""
    from mmengine.dataset import pseudo_collate
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DATASETS

    from mmdiverse.apis import build_model

    cfg = load(f'pretrain/in100/{name}.py')
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_cfg.update(data_root=in100_root, classes=osp.join(in100_root, 'meta/classes.txt'))
    torch.manual_seed(0)
    model = build_model(cfg)
    model.init_weights()
    model.train()
    millions = sum(p.numel() for p in model.parameters()) / 1e6
    assert 10.5 < millions < 11.3, millions  # DeiT-Ti widths, 24 blocks, 100 classes
    dataset = DATASETS.build(dataset_cfg)
    assert len(dataset) == 100 and len(dataset.metainfo['classes']) == 100
    batch = pseudo_collate([dataset[0], dataset[57]])
    optim_cfg = cfg.optim_wrapper.copy()
    optim_cfg.type = 'OptimWrapper'
    optim_cfg.pop('loss_scale')
    optim_wrapper = build_optim_wrapper(model, optim_cfg)
    before = model.backbone.layers[23].attn.qkv.weight.clone()
    log_vars = model.train_step(batch, optim_wrapper)
    assert all(torch.isfinite(torch.as_tensor(v)) for v in log_vars.values()), log_vars
    if 'diverse' in name:
        assert {'loss_patch_cos', 'loss_patch_mix', 'loss_weight_cond'} <= set(log_vars)
    assert not torch.equal(before, model.backbone.layers[23].attn.qkv.weight)


@pytest.mark.slow
def test_upernet_config_trains_one_step():
    """Full-size UperNet + DeiT-24L (no checkpoint read), one step on two 64 px images."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    from mmdiverse.apis import build_model

    cfg = load(SEG)
    text = open(osp.join(CONFIG_ROOT, SEG)).read()
    assert "this project's design" in text and 'docs/fidelity.md' in text
    assert cfg.train_cfg.max_iters == 40000 == cfg.param_scheduler[-1].end
    assert (
        cfg.model.backbone.init_cfg.checkpoint == 'work_dirs/deit_24l_diverse/backbone_export.pth'
    )
    assert dict(cfg.model.backbone.arch) == dict(
        load('pretrain/in100/deit_24l_diverse.py').model.backbone.arch
    )
    cfg.model.backbone.pop('init_cfg')
    cfg.model.data_preprocessor.size = (64, 64)
    torch.manual_seed(0)
    model = build_model(cfg)
    model.train()
    gen = torch.Generator().manual_seed(0)
    images = [
        torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8, generator=gen) for _ in range(2)
    ]
    samples = []
    for _ in images:
        sample = SegDataSample(
            metainfo=dict(img_shape=(64, 64), ori_shape=(64, 64), pad_shape=(64, 64))
        )
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 150, (1, 64, 64), generator=gen))
        samples.append(sample)
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    before = model.backbone.layers[23].attn.qkv.weight.clone()
    log_vars = model.train_step(dict(inputs=images, data_samples=samples), optim_wrapper)
    assert all(torch.isfinite(torch.as_tensor(v)) for v in log_vars.values()), log_vars
    assert not torch.equal(before, model.backbone.layers[23].attn.qkv.weight)
