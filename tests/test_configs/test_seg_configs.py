"""configs/seg: every config builds at full size; the Swin-L recipes carry the
segmentation fork's published values (docs/fidelity.md) and the DeiT one is mmseg's."""

import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from tests.helpers.tools import REPO_ROOT

SEG_DIR = osp.join(REPO_ROOT, 'configs', 'seg')
SEG_CONFIGS = sorted(glob.glob(osp.join(SEG_DIR, '*.py')))
#: seg config -> (pretraining config whose export it loads, expected backbone settings)
DIVERSE = {
    'upernet_swin_l_ade20k.py': 'swin_l_diverse',
    'upernet_swin_l_cityscapes.py': 'swin_l_diverse',
    'upernet_swin_l_ade20k_diverse_ft.py': 'swin_l_diverse',
    'upernet_swin_b_ade20k.py': 'swin_b_diverse',
    'upernet_swin_b_cityscapes.py': 'swin_b_diverse',
    'upernet_deit_s12_ade20k.py': 'deit_s12_diverse',
}
PUBLISHED_SWIN_L = (
    'swin/swin-large-patch4-window12-in22k-384x384-pre_upernet_8xb2-160k_ade20k-512x512.py'
)


def _load(name):
    return Config.fromfile(osp.join(SEG_DIR, name))


def _mmseg(relative):
    """A config shipped in the mmseg wheel (what ``mmseg::relative`` names)."""
    import mmseg

    return Config.fromfile(osp.join(osp.dirname(mmseg.__file__), '.mim', 'configs', relative))


def _plain(cfg_part):
    """Plain data, without the ``_scope_`` that ``mmseg::`` bases add to their dicts."""
    if hasattr(cfg_part, 'to_dict'):
        cfg_part = cfg_part.to_dict()
    if isinstance(cfg_part, dict):
        return {k: _plain(v) for k, v in cfg_part.items() if k != '_scope_'}
    if isinstance(cfg_part, (list, tuple)):
        return type(cfg_part)(_plain(v) for v in cfg_part)
    return cfg_part


#: mmdiverse's strict loaders -> the stock transforms they stand in for.
STRICT_TO_STOCK = {
    'CheckedLoadImageFromFile': 'LoadImageFromFile',
    'CheckedLoadAnnotations': 'LoadAnnotations',
}


def _recipe_view(cfg_part):
    """``_plain`` with the strict loaders read back as the stock ones (and
    their ``num_classes`` dropped): what must equal the published recipe."""
    return _as_stock_loaders(_plain(cfg_part))


def _as_stock_loaders(part):
    if isinstance(part, dict):
        part = {k: _as_stock_loaders(v) for k, v in part.items()}
        if part.get('type') in STRICT_TO_STOCK:
            part['type'] = STRICT_TO_STOCK[part['type']]
            part.pop('num_classes', None)
    elif isinstance(part, (list, tuple)):
        part = type(part)(_as_stock_loaders(v) for v in part)
    return part


def _header_lines(path):
    lines = []
    for line in open(path):
        if not line.startswith('#'):
            break
        lines.append(line.lstrip('# ').rstrip())
    return lines


def _checkpoint(cfg):
    return cfg.model.backbone.init_cfg.checkpoint


def test_the_issue_configs_exist():
    names = {osp.basename(p) for p in SEG_CONFIGS}
    expected = set(DIVERSE) | {
        n.replace('.py', '_baseline.py') for n in DIVERSE if 'diverse_ft' not in n
    }
    expected.add('upernet_swin_l_ade20k_200k.py')  # the fork's continuation
    assert expected <= names, sorted(expected - names)


@pytest.mark.parametrize('path', SEG_CONFIGS, ids=osp.basename)
def test_config_builds_its_model_at_full_size(path):
    """Build every config's model (no checkpoint read) and run a 64 px image."""
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import mmdiverse  # noqa: F401

    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmseg'
    assert 'mmdiverse' in cfg.custom_imports.imports
    init_default_scope('mmseg')
    init_cfg = cfg.model.backbone.pop('init_cfg')
    assert init_cfg.type == 'Pretrained' and init_cfg.prefix == 'backbone.'
    assert init_cfg.checkpoint, 'no default backbone checkpoint'
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == cfg.model.type
    num_classes = 150 if 'ade20k' in path else 19
    assert model.decode_head.num_classes == num_classes
    assert model.auxiliary_head.num_classes == num_classes
    millions = sum(p.numel() for p in model.parameters()) / 1e6
    expected = {'swin_l': (230, 240), 'swin_b': (118, 124), 'deit_s12': (55, 62)}
    family = next((k for k in expected if k in osp.basename(path)), None)
    if family is None:  # another backbone class (docs/selfsup.md): built, not run here
        return
    # the pretraining configs' backbone class, at its published size, on any image size
    assert type(model.backbone).__module__.startswith('mmpretrain.')
    low, high = expected[family]
    assert low < millions < high, millions
    model.eval()
    with torch.no_grad():
        logits = model(torch.zeros(1, 3, 64, 64), mode='tensor')
    assert logits.shape == (1, num_classes, 16, 16)


@pytest.mark.parametrize('name', sorted(DIVERSE))
def test_default_checkpoint_is_the_export_of_the_matching_pretraining(name):
    cfg = _load(name)
    pretrain_name = DIVERSE[name]
    assert _checkpoint(cfg) == f'work_dirs/{pretrain_name}/backbone_export.pth'
    pretrain = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'pretrain', f'{pretrain_name}.py'))
    hook = pretrain.default_hooks.export_meta
    assert (
        hook.type == 'ExportMetaHook'
        and hook.get('out_filename', 'backbone_export.pth') == 'backbone_export.pth'
    )
    seg, pre = cfg.model.backbone, pretrain.model.backbone
    assert seg.type.split('.')[-1] == pre.type.split('.')[-1]
    assert seg.arch == pre.arch
    if 'Swin' in seg.type:
        # Same window: the bias tables load unchanged (other windows are resized).
        window = pre.get('window_size') or pre.get('stage_cfgs', {}).get('block_cfgs', {}).get(
            'window_size', 7
        )
        assert seg.window_size == window


@pytest.mark.parametrize('name', [n for n in sorted(DIVERSE) if 'diverse_ft' not in n])
def test_baseline_differs_only_in_the_checkpoint(name):
    cfg, baseline = _load(name), _load(name.replace('.py', '_baseline.py'))
    url = _checkpoint(baseline)
    assert url.startswith('https://download.openmmlab.com/mmclassification/')
    baseline.model.backbone.init_cfg.checkpoint = _checkpoint(cfg)
    baseline.pretrained = cfg.pretrained
    assert _plain(baseline._cfg_dict) == _plain(cfg._cfg_dict)


#: The fork's settings (PatchVisionTransformer swin-segmentation/, mmseg 0.11;
#: docs/fidelity.md): config -> (crop, train Resize img_scale, test img_scale,
#: max_iters, images per GPU, drop path, classes).
FORK = {
    'upernet_swin_l_ade20k.py': ((512, 512), (2048, 1024), (2048, 512), 160000, 2, 0.3, 150),
    'upernet_swin_l_cityscapes.py': ((1025, 1025), (2049, 1025), (2049, 1025), 80000, 1, 0.5, 19),
}
FORK_TTA_RATIOS = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]  # its tools/test.py --aug-test


def _lr_at(cfg, steps):
    """The lr the config's schedule gives at each of ``steps`` (one param group)."""
    from mmengine.registry import PARAM_SCHEDULERS

    import mmdiverse  # noqa: F401

    optimizer = torch.optim.AdamW(
        [torch.nn.Parameter(torch.zeros(1))], lr=cfg.optim_wrapper.optimizer.lr
    )
    (scheduler,) = [
        PARAM_SCHEDULERS.build(dict(s), default_args=dict(optimizer=optimizer))
        for s in cfg.param_scheduler
    ]
    values = {}
    for step in range(max(steps) + 1):
        if step in steps:
            values[step] = optimizer.param_groups[0]['lr']
        scheduler.last_step += 1  # jump without running every step
        scheduler._global_step += 1
        for group, value in zip(optimizer.param_groups, scheduler._get_value()):
            group['lr'] = value
    return values


def _check_fork_schedule_and_heads(cfg, max_iters):
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, tuple(opt.betas), opt.weight_decay) == (
        'AdamW',
        6e-5,
        (0.9, 0.999),
        0.01,
    )
    assert cfg.optim_wrapper.get('clip_grad') is None
    assert _plain(cfg.optim_wrapper.paramwise_cfg.custom_keys) == {
        'absolute_pos_embed': dict(decay_mult=0.0),
        'relative_position_bias_table': dict(decay_mult=0.0),
        'norm': dict(decay_mult=0.0),
    }
    (schedule,) = cfg.param_scheduler
    assert (
        schedule.type,
        schedule.warmup_iters,
        schedule.warmup_ratio,
        schedule.power,
        schedule.eta_min,
        schedule.begin,
        schedule.end,
        schedule.by_epoch,
    ) == ('WarmupPolyLR', 1500, 1e-6, 1.0, 0.0, 0, max_iters, False)
    # mmcv: poly over the whole run, times the linear warm-up factor from 1e-6
    lrs = _lr_at(cfg, {0, 750, 1500, max_iters - 1})
    poly = [6e-5 * (1 - t / max_iters) for t in (0, 750, 1500, max_iters - 1)]
    assert lrs[0] == pytest.approx(poly[0] * 1e-6)
    assert lrs[750] == pytest.approx(poly[1] * (1e-6 + (1 - 1e-6) * 0.5))
    assert [lrs[1500], lrs[max_iters - 1]] == pytest.approx([poly[2], poly[3]])
    assert cfg.train_cfg.max_iters == max_iters
    decode, aux = cfg.model.decode_head, cfg.model.auxiliary_head
    assert (decode.type, decode.channels, list(decode.in_index)) == ('UPerHead', 512, [0, 1, 2, 3])
    assert (aux.type, aux.in_index, aux.loss_decode.loss_weight) == ('FCNHead', 2, 0.4)
    assert cfg.model.test_cfg.mode == 'whole'


@pytest.mark.parametrize('name', sorted(FORK))
def test_swin_l_configs_take_the_fork_values(name):
    cfg = _load(name)
    crop, train_scale, test_scale, max_iters, per_gpu, drop_path, classes = FORK[name]
    _check_fork_schedule_and_heads(cfg, max_iters)
    assert cfg.crop_size == crop and cfg.model.data_preprocessor.size == crop
    assert (cfg.model.data_preprocessor.pad_val, cfg.model.data_preprocessor.seg_pad_val) == (
        0,
        255,
    )
    assert cfg.train_dataloader.batch_size == per_gpu  # x 8 GPUs
    assert cfg.model.backbone.drop_path_rate == drop_path
    assert (cfg.model.backbone.arch, cfg.model.backbone.window_size) == ('large', 12)
    assert cfg.model.decode_head.in_channels == [192, 384, 768, 1536]  # Swin-L widths
    assert cfg.model.decode_head.num_classes == cfg.model.auxiliary_head.num_classes == classes
    train = _recipe_view(cfg.train_dataloader.dataset.pipeline)
    labels = (
        dict(type='LoadAnnotations', reduce_zero_label=True)
        if classes == 150
        else dict(type='LoadAnnotations')
    )
    assert train == [
        dict(type='LoadImageFromFile'),
        labels,
        dict(type='RandomResize', scale=train_scale, ratio_range=(0.5, 2.0), keep_ratio=True),
        dict(type='RandomCrop', crop_size=crop, cat_max_ratio=0.75),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PhotoMetricDistortion'),
        dict(type='PackSegInputs'),
    ]
    test = _recipe_view(cfg.test_dataloader.dataset.pipeline)
    assert test[1] == dict(type='Resize', scale=test_scale, keep_ratio=True)
    assert cfg.test_dataloader.batch_size == 1
    # --tta: the fork's --aug-test, keep-ratio resizes to (W r, H r) of the test scale, and flip
    assert cfg.tta_model.type == 'SegTTAModel'
    resizes, flips, loads, _ = _recipe_view(cfg.tta_pipeline)[1]['transforms']
    assert resizes == [
        dict(type='Resize', scale=(int(test_scale[0] * r), int(test_scale[1] * r)), keep_ratio=True)
        for r in FORK_TTA_RATIOS
    ]
    assert [t['prob'] for t in flips] == [0.0, 1.0]
    assert [t.type for t in cfg.tta_pipeline[1].transforms[2]] == ['CheckedLoadAnnotations']
    assert cfg.tta_pipeline[0].type == 'CheckedLoadImageFromFile'


def test_ade20k_data_and_validation_are_mmseg_ade20k_with_the_fork_train_scale():
    ours, data = _load('upernet_swin_l_ade20k.py'), _mmseg('_base_/datasets/ade20k.py')
    assert _recipe_view(ours.val_dataloader) == _plain(data.val_dataloader)
    theirs = _plain(data.train_dataloader)
    theirs['batch_size'] = 2
    theirs['dataset']['pipeline'][2]['scale'] = (2048, 1024)  # mmseg: (2048, 512)
    assert _recipe_view(ours.train_dataloader) == theirs
    assert ours.train_dataloader.dataset.data_root == 'data/ade/ADEChallengeData2016'
    assert ours.train_cfg.val_interval == 16000
    assert ours.default_hooks.checkpoint.interval == 16000


def test_cityscapes_keeps_swin_l_and_19_classes_and_says_so():
    header = ' '.join(_header_lines(osp.join(SEG_DIR, 'upernet_swin_l_cityscapes.py')))
    assert 'Swin-L widths and 19 classes where the fork wrote otherwise' in header
    fidelity = ' '.join(open(osp.join(REPO_ROOT, 'docs', 'fidelity.md')).read().split())
    assert 'Swin-B widths' in fidelity and '`num_classes=20`' in fidelity
    assert "19 (Cityscapes' train ids" in fidelity
    cfg = _load('upernet_swin_l_cityscapes.py')
    assert cfg.train_dataloader.dataset.data_root == 'data/cityscapes/'
    assert (cfg.train_cfg.val_interval, cfg.default_hooks.checkpoint.interval) == (8000, 8000)


def test_the_200k_continuation_differs_from_the_160k_run_in_length_drop_path_and_resume():
    run, cont = _load('upernet_swin_l_ade20k.py'), _load('upernet_swin_l_ade20k_200k.py')
    assert cont.load_from == 'work_dirs/upernet_swin_l_ade20k/iter_160000.pth' and cont.resume
    assert cont.model.backbone.drop_path_rate == 0.5
    _check_fork_schedule_and_heads(cont, 200000)
    flat_run, flat_cont = _flatten(_plain(run._cfg_dict)), _flatten(_plain(cont._cfg_dict))
    diff = {
        k
        for k in set(flat_run) | set(flat_cont)
        if flat_run.get(k, '<missing>') != flat_cont.get(k, '<missing>')
    }
    assert diff == {
        'load_from',
        'resume',
        'model.backbone.drop_path_rate',
        'train_cfg.max_iters',
        'param_scheduler',
    }, sorted(diff)


def test_the_continuation_resumes_at_poly_over_200k():
    """What the resumed scheduler applies at iteration 160k and after: the
    config's poly over 200k, whatever the 160k checkpoint's scheduler held."""
    from mmengine.registry import PARAM_SCHEDULERS

    import mmdiverse  # noqa: F401

    cfg = _load('upernet_swin_l_ade20k_200k.py')
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=6e-5)
    scheduler = PARAM_SCHEDULERS.build(
        dict(cfg.param_scheduler[0]), default_args=dict(optimizer=optimizer)
    )
    finished_160k = {
        '_global_step': 160000,
        'last_step': 159999,
        'end': 160000,
        'base_values': [6e-5],
        '_last_value': [6e-5 / 160000],
    }
    optimizer.param_groups[0]['lr'] = 6e-5 / 160000  # as the checkpoint left it
    scheduler.load_state_dict(finished_160k)
    assert scheduler.end == 200000
    seen = {}
    for t in range(160000, 200000):
        seen[t] = optimizer.param_groups[0]['lr']
        scheduler.step()
    for t in (160000, 160001, 180000, 199999):
        assert seen[t] == pytest.approx(6e-5 * (1 - t / 200000)), t


def _flatten(obj, prefix=''):
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            out.update(_flatten(value, f'{prefix}{key}.'))
        return out
    return {prefix[:-1]: obj}


def test_deit_is_the_published_deit_s_recipe_except_the_backbone():
    ours = _load('upernet_deit_s12_ade20k.py')
    published = _mmseg('vit/vit_deit-s16-ln_mln_upernet_8xb2-160k_ade20k-512x512.py')
    for key in (
        'train_dataloader',
        'val_dataloader',
        'train_cfg',
        'param_scheduler',
        'tta_pipeline',
    ):
        assert _recipe_view(ours[key]) == _plain(published[key]), key
    for key in ('neck', 'decode_head', 'auxiliary_head', 'data_preprocessor'):
        assert _plain(ours.model[key]) == _plain(published.model[key]), key
    theirs, mine = published.model.backbone, ours.model.backbone
    assert list(mine.out_indices) == list(theirs.out_indices) == [2, 5, 8, 11]
    assert mine.final_norm is theirs.final_norm is True
    assert mine.drop_path_rate == theirs.drop_path_rate
    assert mine.arch == 'deit-small' and theirs.embed_dims == 384 and theirs.num_heads == 6


def _tiny_swin_model(cfg):
    cfg.model.backbone.update(
        arch=dict(embed_dims=32, depths=[2, 2, 2, 2], num_heads=[2, 2, 2, 2]), init_cfg=None
    )
    cfg.model.decode_head.update(in_channels=[32, 64, 128, 256], channels=16)
    cfg.model.auxiliary_head.update(in_channels=128, channels=16)
    return cfg


def _tiny_vit_model(cfg):
    cfg.model.backbone.update(
        arch=dict(embed_dims=32, num_layers=12, num_heads=2, feedforward_channels=64), init_cfg=None
    )
    cfg.model.neck.update(in_channels=[32] * 4, out_channels=32)
    cfg.model.decode_head.update(in_channels=[32] * 4, channels=16)
    cfg.model.auxiliary_head.update(in_channels=32, channels=16)
    return cfg


@pytest.mark.parametrize(
    'name,shrink,no_decay',
    [
        ('upernet_swin_l_ade20k.py', _tiny_swin_model, ('norm', 'relative_position_bias_table')),
        ('upernet_deit_s12_ade20k.py', _tiny_vit_model, ('ln1', 'ln2', 'pos_embed', 'cls_token')),
    ],
)
def test_no_weight_decay_on_norms_and_position_tables(name, shrink, no_decay):
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import mmdiverse  # noqa: F401

    init_default_scope('mmseg')
    cfg = shrink(_load(name))
    model = MODELS.build(cfg.model)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    decay = {id(p): g['weight_decay'] for g in wrapper.optimizer.param_groups for p in g['params']}
    checked = 0
    for pname, param in model.backbone.named_parameters():
        expected = 0.0 if any(k in pname for k in no_decay) else 0.01
        assert decay[id(param)] == pytest.approx(expected), pname
        checked += expected == 0.0
    assert checked >= 10
    assert {g['lr'] for g in wrapper.optimizer.param_groups} == {6e-5}


@pytest.mark.parametrize('path', SEG_CONFIGS, ids=osp.basename)
def test_data_is_loaded_strictly_with_the_head_classes_and_hooks_are_on(path):
    cfg = Config.fromfile(path)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        types = [t.type for t in cfg[loader].dataset.pipeline]
        assert 'LoadImageFromFile' not in types and 'LoadAnnotations' not in types, loader
        assert 'CheckedLoadImageFromFile' in types, loader
        (labels,) = [t for t in cfg[loader].dataset.pipeline if t.type == 'CheckedLoadAnnotations']
        assert labels.num_classes == cfg.model.decode_head.num_classes, loader
    assert {'NonFiniteLossHook', 'RandomStateHook'} <= {h.type for h in cfg.custom_hooks}


def test_diversity_fine_tuning_reuses_the_pretraining_terms():
    """The fine-tuning config takes its terms from configs/pretrain/_base_/diversity.py
    (the Swin set of swin_l_diverse.py, patch mixing left out), not a copy."""
    path = osp.join(SEG_DIR, 'upernet_swin_l_ade20k_diverse_ft.py')
    assert 'loss_weight=' not in open(path).read(), 'the weights must come from the base'
    pretrain = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'pretrain', 'swin_l_diverse.py'))
    expected = {k: v for k, v in _plain(pretrain.model.diversity).items() if k != 'patch_mix'}
    diversity = _plain(_load('upernet_swin_l_ade20k_diverse_ft.py').model.diversity)
    assert diversity == expected
    assert list(diversity) == ['tap', 'patch_cos', 'patch_contrast', 'attn_div', 'weight_cond']
