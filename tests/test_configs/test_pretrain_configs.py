"""Every config under configs/ parses and builds its model at full size on
the CPU (no data, no checkpoint); the pretraining configs say what the
issue and the papers ask for, and each diverse config differs from its
baseline only in the regularizers."""

import gc
import glob
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config, ConfigDict

from mmdiverse.apis import build_model
from tests.helpers.fast_init import skip_random_init
from tests.helpers.tools import REPO_ROOT

CONFIG_ROOT = osp.join(REPO_ROOT, 'configs')
ALL_CONFIGS = sorted(
    osp.relpath(p, CONFIG_ROOT)
    for p in glob.glob(osp.join(CONFIG_ROOT, '**', '*.py'), recursive=True)
    if '_base_' not in osp.relpath(p, CONFIG_ROOT).split(osp.sep)
)
PRETRAIN = ['deit_s12', 'deit_s24', 'deit_b12', 'deit_b24', 'swin_b', 'swin_l', 'vit_l24']
DIVERSITY = dict(
    patch_cos=dict(type='PatchCosineLoss', loss_weight=0.5),
    patch_contrast=dict(type='PatchContrastiveLoss', loss_weight=0.5),
    patch_mix=dict(type='PatchMixingLoss', loss_weight=1.0),
    attn_div=dict(type='AttentionDiversityLoss', loss_weight=1e-4),
    weight_cond=dict(type='WeightConditionLoss', loss_weight=5e-4),
)


# Published sizes (parameters of the classifier with a 1000-class head).
SIZES = {
    'deit_s12': 22.1e6,
    'deit_s24': 43.4e6,
    'deit_b12': 86.6e6,
    'deit_b24': 171.6e6,
    'swin_b': 87.8e6,
    'swin_l': 196.5e6,
    'vit_l24': 304.3e6,
}


def load(name):
    return Config.fromfile(osp.join(CONFIG_ROOT, name))


def plain(obj):
    if isinstance(obj, (dict, ConfigDict)):
        return {k: plain(v) for k, v in obj.items() if k != '_scope_'}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    return obj


def flatten(obj, prefix=''):
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            out.update(flatten(value, f'{prefix}{key}.'))
        return out
    return {prefix[:-1]: obj}


def test_there_is_a_baseline_for_every_diverse_config():
    pretrain = {c for c in ALL_CONFIGS if c.startswith('pretrain' + osp.sep)}
    expected = {
        osp.join('pretrain', f'{m}_{kind}.py') for m in PRETRAIN for kind in ('diverse', 'baseline')
    }
    assert expected <= pretrain


#: Diverse-ViT's two published runs, reproduced (configs/pretrain/diverse_vit/).
FAITHFUL = ['deit_s12', 'deit_s24']
FAITHFUL_NAMES = [f'diverse_vit/{m}{k}' for m in FAITHFUL for k in ('', '_baseline')]


def family_and_kind(name):
    """``('deit_s12', 'diverse' | 'baseline')`` of a pretraining config path."""
    stem = osp.basename(name)[:-3]
    if osp.basename(osp.dirname(name)) == 'diverse_vit':
        return (
            (stem[: -len('_baseline')], 'baseline')
            if stem.endswith('_baseline')
            else (stem, 'diverse')
        )
    return tuple(stem.rsplit('_', 1))


@pytest.mark.parametrize('name', ALL_CONFIGS)
def test_config_builds_its_model_at_full_size(name):
    cfg = load(name)
    with skip_random_init():
        model = build_model(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params > 0
    family, kind = family_and_kind(name)
    if name.startswith('pretrain') and family in SIZES:
        size = SIZES[family]
        assert abs(n_params - size) / size < 0.01, f'{n_params / 1e6:.1f}M parameters'
        diverse = kind == 'diverse'
        assert type(model).__name__ == ('DiverseImageClassifier' if diverse else 'ImageClassifier')
        if diverse:
            assert tuple(model.diversity.terms) == tuple(DIVERSITY)
            assert type(model.data_preprocessor).__name__ == 'PatchClsDataPreprocessor'
    del model
    gc.collect()


@pytest.mark.parametrize('model_name', PRETRAIN)
def test_pretrain_pair_differs_only_in_the_regularizers(model_name):
    diverse = plain(load(f'pretrain/{model_name}_diverse.py')._cfg_dict.to_dict())
    baseline = plain(load(f'pretrain/{model_name}_baseline.py')._cfg_dict.to_dict())
    assert diverse['model'].pop('type') == 'DiverseImageClassifier'
    assert baseline['model'].pop('type') == 'ImageClassifier'

    diversity = diverse['model'].pop('diversity')
    assert {k: v for k, v in diversity.items() if k != 'tap'} == DIVERSITY
    assert diversity['tap']['attn_layers'] == [0]
    if model_name.startswith(('deit', 'vit')):
        assert diversity['tap']['first_layer'] == 0

    d_aug = diverse['model']['train_cfg'].pop('augments')
    b_aug = baseline['model']['train_cfg'].pop('augments')
    token_stride = 32 if model_name.startswith('swin') else 16
    assert b_aug == [dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]
    assert d_aug == [
        dict(type='Mixup', alpha=0.8),
        dict(type='PatchCutMix', alpha=1.0, patch_size=token_stride),
    ]

    helpers = {
        'diversity_terms',
        'diversity_vit',
        'diversity_swin',
        'patch_cutmix_vit',
        'patch_cutmix_swin',
    }
    diff = {
        k
        for k in set(flatten(diverse)) | set(flatten(baseline))
        if flatten(diverse).get(k, '<missing>') != flatten(baseline).get(k, '<missing>')
    }
    assert {k.split('.')[0] for k in diff} <= helpers, sorted(diff)


PRETRAINING_DOC = open(osp.join(REPO_ROOT, 'docs', 'pretraining.md')).read()


def _header_batch(path):
    text = _header(path)
    match = re.search(r'(\d+) GPUs x (\d+) images = (\d+) total batch \("(\d+)xb(\d+)"', text)
    assert match, f'{path}: the header must state "<G> GPUs x <B> images = <T> total batch"'
    gpus, per_gpu, total = (int(g) for g in match.groups()[:3])
    assert gpus * per_gpu == total and match.group(4, 5) == (str(gpus), str(per_gpu))
    return gpus, per_gpu, total


@pytest.mark.parametrize(
    'name', [f'{m}_{k}' for m in PRETRAIN for k in ('diverse', 'baseline')] + FAITHFUL_NAMES
)
def test_pretrain_recipe(name):
    path = osp.join(CONFIG_ROOT, 'pretrain', f'{name}.py')
    cfg = load(path)
    text = open(path).read()
    assert re.search(r"^_base_ = \[?\s*'(mmpretrain::|\./|\.\./)", text, re.M), 'inherits a recipe'
    # batch and GPU count in the header, learning rate scaled by auto_scale_lr
    gpus, per_gpu, total = _header_batch(path)
    assert cfg.train_dataloader.batch_size == per_gpu
    assert cfg.auto_scale_lr == dict(base_batch_size=total, enable=True)
    assert f'tools/dist_train.sh configs/pretrain/{name}.py {gpus}' in PRETRAINING_DOC
    assert 'mmdiverse' in cfg.custom_imports.imports
    assert cfg.default_hooks.export_meta.type == 'ExportMetaHook'
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    kinds = [s.type for s in cfg.param_scheduler]
    assert kinds == (
        ['TimmEpochCosineLR']
        if name.startswith('diverse_vit/')
        else ['LinearLR', 'CosineAnnealingLR']
    )
    pipeline = [t.type for t in cfg.train_dataloader.dataset.pipeline]
    assert cfg.model.head.loss.type == 'LabelSmoothLoss'
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'  # tools fall back to gloo without a GPU
    backbone = cfg.model.backbone
    family, _ = family_and_kind(path)

    if family.startswith('deit'):
        # DeiT: 300 epochs, AdamW, cosine with 5 warm-up epochs, RandAugment,
        # Mixup + CutMix, random erasing, repeated augmentation
        assert cfg.train_cfg.max_epochs == 300
        if not name.startswith('diverse_vit/'):
            assert cfg.param_scheduler[0].end == 5 == cfg.param_scheduler[1].begin
        assert 'RandAugment' in pipeline and 'RandomErasing' in pipeline
        assert cfg.train_dataloader.sampler.type == 'RepeatAugSampler'
        assert cfg.optim_wrapper.optimizer.lr == 1e-3 and total == 1024  # 5e-4 x 1024 / 512
        assert backbone.drop_path_rate == 0.1 and backbone.patch_size == 16
        width = 384 if '_s' in name else 768
        layers = 24 if '24' in name else 12
        arch = backbone.arch
        if isinstance(arch, str):
            from mmpretrain.models.backbones import VisionTransformer

            arch = VisionTransformer.arch_zoo[arch]
        assert (arch['embed_dims'], arch['num_layers'], arch['num_heads']) == (
            width,
            layers,
            width // 64,
        )
        assert cfg.model.init_cfg  # trained from scratch with the recipe's init
    elif family.startswith('swin_b'):
        assert cfg.train_cfg.max_epochs == 300
        assert (backbone.arch, backbone.img_size) == ('base', 224)
        assert 'RandAugment' in pipeline and 'RandomErasing' in pipeline
    else:  # ImageNet-22K initialised Swin-L / ViT-L fine-tuned on ImageNet-1K
        assert cfg.train_cfg.max_epochs == 30
        assert 'RandAugment' in pipeline and 'RandomErasing' in pipeline
        init = backbone.init_cfg
        assert init.type == 'Pretrained' and init.prefix == 'backbone.'
        assert init.checkpoint == cfg.pretrained
        assert re.fullmatch(
            r'checkpoints/\w+_22k_mmpretrain\.pth|checkpoints/\w+_in21k_'
            r'mmpretrain\.pth',
            init.checkpoint,
        )
        assert re.search(r"^pretrained = '", text, re.M)
        if family.startswith('swin_l'):
            assert (backbone.arch, backbone.img_size) == ('large', 384)
            assert backbone.stage_cfgs.block_cfgs.window_size == 12
        else:
            assert (backbone.arch, backbone.img_size, backbone.patch_size) == ('l', 224, 16)
            assert cfg.data_preprocessor.mean == [127.5] * 3  # the 21K weights' normalisation


@pytest.mark.slow
@pytest.mark.parametrize('name', ['deit_s12_diverse', 'swin_b_diverse'])
def test_diverse_training_step_at_full_size(name):
    """One loss computation of the full-size model on two images, with the
    patch-aligned CutMix forced: every term is finite and backpropagates."""
    from mmpretrain.structures import DataSample

    cfg = load(f'pretrain/{name}.py')
    cfg.model.train_cfg.augments = [
        a for a in cfg.model.train_cfg.augments if a['type'] == 'PatchCutMix'
    ]
    model = build_model(cfg)
    model.train()
    torch.manual_seed(0)
    data = dict(
        inputs=[torch.randint(0, 256, (3, 224, 224), dtype=torch.uint8) for _ in range(2)],
        data_samples=[DataSample().set_gt_label(i) for i in (3, 7)],
    )
    data = model.data_preprocessor(data, training=True)
    losses = model(**data, mode='loss')
    for term in DIVERSITY:
        assert torch.isfinite(losses[f'loss_{term}']), term
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    assert model.backbone.patch_embed.projection.weight.grad is not None
    del model
    gc.collect()


#: The mmpretrain recipes whose pipelines the configs keep (only the loader swapped).
RECIPE_PIPELINES = {
    'deit_s12': 'deit/deit-small_4xb256_in1k.py',
    'deit_b12': 'deit/deit-base_16xb64_in1k.py',
    'swin_b': 'swin_transformer/swin-base_16xb64_in1k.py',
}


@pytest.mark.parametrize(
    'name', [f'{m}_{k}' for m in PRETRAIN for k in ('diverse', 'baseline')] + FAITHFUL_NAMES
)
def test_images_load_strictly_and_the_mmdiverse_hooks_are_on(name):
    cfg = load(osp.join(CONFIG_ROOT, 'pretrain', f'{name}.py'))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        pipeline = cfg[loader].dataset.pipeline
        assert plain(pipeline[0]) == dict(type='CheckedLoadImageFromFile'), loader
        assert 'LoadImageFromFile' not in [t.type for t in pipeline], loader
    hooks = [h.type for h in cfg.custom_hooks]
    assert {'NonFiniteLossHook', 'RandomStateHook'} <= set(hooks)
    if name.startswith(('deit_b', 'diverse_vit/')):
        assert hooks[0] == 'EMAHook', "the recipe's own hook is kept"


@pytest.mark.parametrize('model_name', sorted(RECIPE_PIPELINES))
def test_strict_loading_keeps_the_rest_of_the_recipe_pipelines(model_name):
    import mmpretrain

    recipe = Config.fromfile(
        osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'configs', RECIPE_PIPELINES[model_name])
    )
    cfg = load(osp.join(CONFIG_ROOT, 'pretrain', f'{model_name}_baseline.py'))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        ours, theirs = cfg[loader].dataset.pipeline, recipe[loader].dataset.pipeline
        assert plain(theirs[0]) == dict(type='LoadImageFromFile'), loader
        assert plain(ours[1:]) == plain(theirs[1:]), loader


# ---------------------------------------------------------------------------
# Diverse-ViT's runs (configs/pretrain/diverse_vit/, docs/fidelity.md)

#: Where a faithful config may differ from the project config it inherits:
#: the agreed fidelity options and the recipe deltas, nothing else.
FIDELITY_KEYS = {
    'model.diversity.tap.similarity_tokens',
    'model.diversity.patch_cos.absolute',
    'model.diversity.patch_contrast.detach_first',
    'model.diversity.patch_mix.composition',
    'model.diversity.weight_cond.estimator',
}
RECIPE_KEYS = {
    'model.train_cfg.augments',
    'optim_wrapper.type',
    'optim_wrapper.loss_scale',
    'optim_wrapper.clip_grad',
    'optim_wrapper.clip_grad.max_norm',
    'custom_hooks',
    'param_scheduler',
}


def _diff(a, b):
    fa, fb = flatten(a), flatten(b)
    return {k for k in set(fa) | set(fb) if fa.get(k, '<missing>') != fb.get(k, '<missing>')}


@pytest.mark.parametrize('model_name', FAITHFUL)
@pytest.mark.parametrize('kind', ['diverse', 'baseline'])
def test_faithful_config_differs_from_the_project_config_exactly_in_the_fidelity_keys(
    model_name, kind
):
    suffix = '' if kind == 'diverse' else '_baseline'
    faithful = plain(load(f'pretrain/diverse_vit/{model_name}{suffix}.py')._cfg_dict.to_dict())
    project = plain(load(f'pretrain/{model_name}_{kind}.py')._cfg_dict.to_dict())
    text = open(osp.join(CONFIG_ROOT, 'pretrain', 'diverse_vit', f'{model_name}{suffix}.py')).read()
    assert f"_base_ = ['../{model_name}_{kind}.py', './_base_/diverse_vit_recipe.py']" in text
    diff = _diff(faithful, project)
    expected = RECIPE_KEYS | RECIPE_HELPERS_FLAT | (FIDELITY_KEYS if kind == 'diverse' else set())
    assert diff == expected, (sorted(diff - expected), sorted(expected - diff))


def _helper_keys():
    recipe = Config.fromfile(
        osp.join(CONFIG_ROOT, 'pretrain', 'diverse_vit', '_base_', 'diverse_vit_recipe.py')
    )
    return set(flatten(plain(recipe._cfg_dict.to_dict())))


RECIPE_HELPERS_FLAT = _helper_keys()


@pytest.mark.parametrize('model_name', FAITHFUL)
def test_faithful_pair_differs_only_in_the_regularizers(model_name):
    diverse = plain(load(f'pretrain/diverse_vit/{model_name}.py')._cfg_dict.to_dict())
    baseline = plain(load(f'pretrain/diverse_vit/{model_name}_baseline.py')._cfg_dict.to_dict())
    assert (diverse['model'].pop('type'), baseline['model'].pop('type')) == (
        'DiverseImageClassifier',
        'ImageClassifier',
    )
    diverse['model'].pop('diversity')
    assert {k.split('.')[0] for k in _diff(diverse, baseline)} <= {
        'diversity_terms',
        'diversity_vit',
        'diversity_swin',
        'patch_cutmix_vit',
        'patch_cutmix_swin',
    }


@pytest.mark.parametrize('name', FAITHFUL_NAMES)
def test_faithful_configs_carry_every_published_value(name):
    """script/run_deit_small{,_24layer}_diverse.sh and main.py's defaults (Diverse-ViT)."""
    cfg = load(f'pretrain/{name}.py')
    family, kind = family_and_kind(name + '.py')
    # 8 GPUs x 128 (--nproc_per_node=8 --batch-size 128), lr 5e-4 x 1024 / 512
    assert cfg.train_dataloader.batch_size == 128
    assert cfg.auto_scale_lr == dict(base_batch_size=1024, enable=True)
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.weight_decay, opt.eps, tuple(opt.betas)) == (
        'AdamW',
        5e-4 * 1024 / 512,
        0.05,
        1e-8,
        (0.9, 0.999),
    )
    # no decay on biases, norms (every 1-D parameter), pos_embed, cls_token (timm's filter)
    paramwise = cfg.optim_wrapper.paramwise_cfg
    assert (paramwise.norm_decay_mult, paramwise.bias_decay_mult, paramwise.flat_decay_mult) == (
        0.0,
        0.0,
        0.0,
    )
    assert {'.cls_token', '.pos_embed'} <= set(paramwise.custom_keys)
    # AMP, no gradient clipping
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper' and cfg.optim_wrapper.loss_scale == 'dynamic'
    assert cfg.optim_wrapper.clip_grad is None
    # 300 epochs; 5 warm-up epochs from --warmup-lr 1e-6, cosine to --min-lr 1e-5, as
    # main.py steps timm's scheduler (once per epoch, after it)
    assert cfg.train_cfg.max_epochs == 300
    (schedule,) = cfg.param_scheduler
    assert (
        schedule.type,
        schedule.t_initial,
        schedule.lr_min,
        schedule.warmup_lr_init,
        schedule.warmup_t,
        schedule.lag,
        schedule.by_epoch,
    ) == ('TimmEpochCosineLR', 300, 1e-5, 1e-6, 5, 1, True)
    # drop path 0.1, no dropout; 12 or 24 layers of DeiT-S
    backbone = cfg.model.backbone
    assert backbone.drop_path_rate == 0.1 and backbone.get('drop_rate', 0.0) == 0.0
    arch = backbone.arch
    if isinstance(arch, str):
        from mmpretrain.models.backbones import VisionTransformer

        arch = VisionTransformer.arch_zoo[arch]
    assert (arch['embed_dims'], arch['num_heads'], arch['num_layers']) == (
        384,
        6,
        24 if family == 'deit_s24' else 12,
    )
    # RandAugment rand-m9-mstd0.5-inc1, random erasing 0.25, repeated augmentation
    pipeline = {t.type: t for t in cfg.train_dataloader.dataset.pipeline}
    rand = pipeline['RandAugment']
    assert (
        rand.policies,
        rand.num_policies,
        rand.magnitude_level,
        rand.magnitude_std,
        rand.total_level,
    ) == ('timm_increasing', 2, 9, 0.5, 10)
    assert pipeline['RandomErasing'].erase_prob == 0.25
    assert pipeline['RandomResizedCrop'].interpolation == 'bicubic'
    assert (cfg.train_dataloader.sampler.type, cfg.train_dataloader.sampler.num_repeats) == (
        'RepeatAugSampler',
        3,
    )
    # Mixup 0.8 / CutMix 1.0, one per batch (50/50), mirror pairing, pixel boxes; smoothing 0.1
    assert plain(cfg.model.train_cfg.augments) == [
        dict(type='PairedMixup', alpha=0.8, pairing='mirror'),
        dict(type='PatchCutMix', alpha=1.0, patch_size=16, box_alignment='pixel', pairing='mirror'),
    ]
    assert cfg.model.train_cfg.get('probs') is None
    loss = cfg.model.head.loss
    assert (loss.type, loss.label_smooth_val, loss.mode) == ('LabelSmoothLoss', 0.1, 'original')
    # EMA (decay 0.99996) kept, raw model evaluated; non-finite steps skipped
    ema, non_finite, _ = cfg.custom_hooks
    assert (ema.type, ema.momentum, ema.evaluate_on_ema, ema.evaluate_on_origin) == (
        'EMAHook',
        4e-5,
        False,
        True,
    )
    assert 1 - ema.momentum == pytest.approx(0.99996)
    assert (non_finite.type, non_finite.action) == ('NonFiniteLossHook', 'skip')
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import HOOKS

    import mmdiverse  # noqa: F401  (registers NonFiniteLossHook)

    with DefaultScope.overwrite_default_scope('mmpretrain'):
        built = [HOOKS.build(dict(h)) for h in cfg.custom_hooks]
    assert (built[0].evaluate_on_ema, built[0].evaluate_on_origin) == (False, True)
    if kind == 'baseline':
        assert cfg.model.type == 'ImageClassifier' and 'diversity' not in cfg.model
        return
    # the objective: coefficients of the scripts, and Diverse-ViT's choices
    diversity = cfg.model.diversity
    assert {t: diversity[t].loss_weight for t in DIVERSITY} == dict(
        patch_mix=1.0, patch_cos=0.5, patch_contrast=0.5, attn_div=1e-4, weight_cond=5e-4
    )
    assert (
        diversity.tap.first_layer,
        list(diversity.tap.attn_layers),
        diversity.tap.similarity_tokens,
    ) == (0, [0], 'pre_norm')
    assert diversity.patch_cos.absolute is False
    assert diversity.patch_contrast.detach_first is False
    assert diversity.patch_mix.composition == 'token_mean'
    assert diversity.weight_cond.estimator == 'fresh_rayleigh'


#: Every top-1 number the papers and repositories publish for these models.
PUBLISHED_NUMBERS = ('80.3', '82.2', '82.1', '83.3', '83.4', '83.7', '87.4', '83.6', '83.9')
SCRIPTS = {
    'deit_s12': 'script/run_deit_small_diverse.sh',
    'deit_s24': 'script/run_deit_small_24layer_diverse.sh',
}


def _header(path):
    lines = []
    for line in open(path):
        if not line.startswith('#'):
            break
        lines.append(line.lstrip('# ').rstrip())
    return ' '.join(' '.join(lines).split())


@pytest.mark.parametrize('name', [f'{m}_{k}' for m in PRETRAIN for k in ('diverse', 'baseline')])
def test_project_recipe_headers_say_so_and_carry_no_published_number(name):
    header = _header(osp.join(CONFIG_ROOT, 'pretrain', f'{name}.py'))
    assert "Recipe: this project's design" in header and 'docs/fidelity.md' in header
    assert not [n for n in PUBLISHED_NUMBERS if n in header], header


@pytest.mark.parametrize('name', FAITHFUL_NAMES)
def test_faithful_headers_name_the_published_run(name):
    family, kind = family_and_kind(name + '.py')
    header = _header(osp.join(CONFIG_ROOT, 'pretrain', f'{name}.py'))
    assert 'docs/fidelity.md' in header
    if kind == 'diverse':
        assert SCRIPTS[family] in header and 'VITA-Group/Diverse-ViT' in header
    else:
        assert f'baseline of {family}.py' in header
