"""configs/seg: every config builds at full size, and the recipes are mmseg's."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from tests.conftest import REPO_ROOT

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
PUBLISHED_SWIN_L = ('swin/swin-large-patch4-window12-in22k-384x384-pre_upernet_'
                    '8xb2-160k_ade20k-512x512.py')


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
STRICT_TO_STOCK = {'CheckedLoadImageFromFile': 'LoadImageFromFile',
                   'CheckedLoadAnnotations': 'LoadAnnotations'}


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


def _checkpoint(cfg):
    return cfg.model.backbone.init_cfg.checkpoint


def test_the_issue_configs_exist():
    names = {osp.basename(p) for p in SEG_CONFIGS}
    expected = set(DIVERSE) | {n.replace('.py', '_baseline.py') for n in DIVERSE
                               if 'diverse_ft' not in n}
    assert expected <= names, sorted(expected - names)


@pytest.mark.parametrize('path', SEG_CONFIGS, ids=osp.basename)
def test_config_builds_its_model_at_full_size(path):
    """Build every config's model (no checkpoint read) and run a 64 px image."""
    import mmdiverse  # noqa: F401
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmseg'
    assert 'mmdiverse' in cfg.custom_imports.imports
    init_default_scope('mmseg')
    init_cfg = cfg.model.backbone.pop('init_cfg')
    assert init_cfg.type == 'Pretrained' and init_cfg.prefix == 'backbone.'
    assert init_cfg.checkpoint, 'no default backbone checkpoint'
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == cfg.model.type
    assert type(model.backbone).__module__.startswith('mmpretrain.')
    num_classes = 150 if 'ade20k' in path else 19
    assert model.decode_head.num_classes == num_classes
    assert model.auxiliary_head.num_classes == num_classes
    millions = sum(p.numel() for p in model.parameters()) / 1e6
    expected = {'swin_l': (230, 240), 'swin_b': (118, 124), 'deit_s12': (55, 62)}
    family = next(k for k in expected if k in path)
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
    assert hook.type == 'ExportMetaHook' and hook.get('out_filename', 'backbone_export.pth') \
        == 'backbone_export.pth'
    seg, pre = cfg.model.backbone, pretrain.model.backbone
    assert seg.type.split('.')[-1] == pre.type.split('.')[-1]
    assert seg.arch == pre.arch
    if 'Swin' in seg.type:
        # Same window: the bias tables load unchanged (other windows are resized).
        window = pre.get('window_size') or \
            pre.get('stage_cfgs', {}).get('block_cfgs', {}).get('window_size', 7)
        assert seg.window_size == window


@pytest.mark.parametrize('name', [n for n in sorted(DIVERSE) if 'diverse_ft' not in n])
def test_baseline_differs_only_in_the_checkpoint(name):
    cfg, baseline = _load(name), _load(name.replace('.py', '_baseline.py'))
    url = _checkpoint(baseline)
    assert url.startswith('https://download.openmmlab.com/mmclassification/')
    baseline.model.backbone.init_cfg.checkpoint = _checkpoint(cfg)
    baseline.pretrained = cfg.pretrained
    assert _plain(baseline._cfg_dict) == _plain(cfg._cfg_dict)


def test_swin_l_ade20k_is_the_published_recipe_except_the_backbone():
    ours, published = _load('upernet_swin_l_ade20k.py'), _mmseg(PUBLISHED_SWIN_L)
    # --show-dir paints every image (interval 1); the rest of the hooks are the recipe's.
    assert ours.default_hooks.visualization.interval == 1
    published.default_hooks.visualization.interval = 1
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader', 'train_cfg',
                'val_cfg', 'test_cfg', 'optim_wrapper', 'param_scheduler', 'default_hooks',
                'tta_pipeline', 'tta_model', 'val_evaluator', 'test_evaluator', 'env_cfg',
                'crop_size', 'log_processor', 'visualizer'):
        assert _recipe_view(ours[key]) == _plain(published[key]), key
    for key in ('data_preprocessor', 'decode_head', 'auxiliary_head', 'train_cfg', 'test_cfg'):
        assert _plain(ours.model[key]) == _plain(published.model[key]), key
    mine, theirs = ours.model.backbone, published.model.backbone
    assert mine.arch == 'large' and theirs.embed_dims == 192
    assert list(theirs.depths) == [2, 2, 18, 2] and list(theirs.num_heads) == [6, 12, 24, 48]
    assert mine.window_size == theirs.window_size == 12
    assert mine.drop_path_rate == theirs.drop_path_rate == 0.3
    assert tuple(mine.out_indices) == tuple(theirs.out_indices) == (0, 1, 2, 3)
    assert mine.img_size == theirs.pretrain_img_size == 384


def test_swin_l_ade20k_recipe_values():
    cfg = _load('upernet_swin_l_ade20k.py')
    assert cfg.crop_size == (512, 512) and cfg.model.data_preprocessor.size == (512, 512)
    assert cfg.train_cfg.max_iters == 160000
    assert cfg.train_dataloader.batch_size == 2           # x 8 GPUs
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.weight_decay) == ('AdamW', 6e-5, 0.01)
    assert set(cfg.optim_wrapper.paramwise_cfg.custom_keys) >= {'norm',
                                                                'relative_position_bias_table'}
    warmup, poly = cfg.param_scheduler
    assert (warmup.type, warmup.end, poly.type, poly.power, poly.end) == \
        ('LinearLR', 1500, 'PolyLR', 1.0, 160000)
    assert cfg.model.auxiliary_head.type == 'FCNHead' and cfg.model.decode_head.type == 'UPerHead'
    assert cfg.model.backbone.drop_path_rate == 0.3
    assert cfg.tta_model.type == 'SegTTAModel'
    resizes, flips = cfg.tta_pipeline[1].transforms[:2]
    assert [t.scale_factor for t in resizes] == [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
    assert [t.prob for t in flips] == [0., 1.]
    assert cfg.train_dataloader.dataset.data_root == 'data/ade/ADEChallengeData2016'
    assert cfg.train_dataloader.dataset.pipeline[1] == dict(
        type='CheckedLoadAnnotations', reduce_zero_label=True, num_classes=150)


@pytest.mark.parametrize('size', ['l', 'b'])
def test_cityscapes_is_mmseg_cityscapes_1024_with_80k(size):
    cfg = _load(f'upernet_swin_{size}_cityscapes.py')
    ade = _load(f'upernet_swin_{size}_ade20k.py')
    data = _mmseg('_base_/datasets/cityscapes_1024x1024.py')
    schedule = _mmseg('_base_/schedules/schedule_80k.py')
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader', 'tta_pipeline',
                'val_evaluator', 'crop_size'):
        assert _recipe_view(cfg[key]) == _plain(data[key]), key
    schedule.default_hooks.visualization.interval = 1      # every image with --show-dir
    for key in ('train_cfg', 'val_cfg', 'test_cfg', 'default_hooks'):
        assert _plain(cfg[key]) == _plain(schedule[key]), key
    assert _plain(cfg.optim_wrapper) == _plain(ade.optim_wrapper)
    assert cfg.param_scheduler[1].end == 80000 and cfg.train_cfg.max_iters == 80000
    assert cfg.model.data_preprocessor.size == (1024, 1024)
    assert cfg.model.decode_head.num_classes == 19
    assert _plain(cfg.model.backbone) == _plain(ade.model.backbone)
    assert cfg.train_dataloader.dataset.data_root == 'data/cityscapes/'


def test_deit_is_the_published_deit_s_recipe_except_the_backbone():
    ours = _load('upernet_deit_s12_ade20k.py')
    published = _mmseg('vit/vit_deit-s16-ln_mln_upernet_8xb2-160k_ade20k-512x512.py')
    for key in ('train_dataloader', 'val_dataloader', 'train_cfg', 'param_scheduler',
                'tta_pipeline'):
        assert _recipe_view(ours[key]) == _plain(published[key]), key
    for key in ('neck', 'decode_head', 'auxiliary_head', 'data_preprocessor'):
        assert _plain(ours.model[key]) == _plain(published.model[key]), key
    theirs, mine = published.model.backbone, ours.model.backbone
    assert list(mine.out_indices) == list(theirs.out_indices) == [2, 5, 8, 11]
    assert mine.final_norm is theirs.final_norm is True
    assert mine.drop_path_rate == theirs.drop_path_rate
    assert mine.arch == 'deit-small' and theirs.embed_dims == 384 and theirs.num_heads == 6


def _tiny_swin_model(cfg):
    cfg.model.backbone.update(arch=dict(embed_dims=32, depths=[2, 2, 2, 2],
                                        num_heads=[2, 2, 2, 2]), init_cfg=None)
    cfg.model.decode_head.update(in_channels=[32, 64, 128, 256], channels=16)
    cfg.model.auxiliary_head.update(in_channels=128, channels=16)
    return cfg


def _tiny_vit_model(cfg):
    cfg.model.backbone.update(arch=dict(embed_dims=32, num_layers=12, num_heads=2,
                                        feedforward_channels=64), init_cfg=None)
    cfg.model.neck.update(in_channels=[32] * 4, out_channels=32)
    cfg.model.decode_head.update(in_channels=[32] * 4, channels=16)
    cfg.model.auxiliary_head.update(in_channels=32, channels=16)
    return cfg


@pytest.mark.parametrize('name,shrink,no_decay', [
    ('upernet_swin_l_ade20k.py', _tiny_swin_model,
     ('norm', 'relative_position_bias_table')),
    ('upernet_deit_s12_ade20k.py', _tiny_vit_model, ('ln1', 'ln2', 'pos_embed', 'cls_token')),
])
def test_no_weight_decay_on_norms_and_position_tables(name, shrink, no_decay):
    import mmdiverse  # noqa: F401
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    cfg = shrink(_load(name))
    model = MODELS.build(cfg.model)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    decay = {id(p): g['weight_decay'] for g in wrapper.optimizer.param_groups for p in g['params']}
    checked = 0
    for pname, param in model.backbone.named_parameters():
        expected = 0. if any(k in pname for k in no_decay) else 0.01
        assert decay[id(param)] == pytest.approx(expected), pname
        checked += expected == 0.
    assert checked >= 10
    assert {g['lr'] for g in wrapper.optimizer.param_groups} == {6e-5}


@pytest.mark.parametrize('path', SEG_CONFIGS, ids=osp.basename)
def test_data_is_loaded_strictly_with_the_head_classes_and_hooks_are_on(path):
    cfg = Config.fromfile(path)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        types = [t.type for t in cfg[loader].dataset.pipeline]
        assert 'LoadImageFromFile' not in types and 'LoadAnnotations' not in types, loader
        assert 'CheckedLoadImageFromFile' in types, loader
        labels, = [t for t in cfg[loader].dataset.pipeline if t.type == 'CheckedLoadAnnotations']
        assert labels.num_classes == cfg.model.decode_head.num_classes, loader
    assert [h.type for h in cfg.custom_hooks] == ['NonFiniteLossHook', 'RandomStateHook']


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
