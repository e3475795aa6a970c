"""The export of an MAE / SimMIM pretraining run loads strictly into the
segmentation backbones of configs/seg/upernet_{mae_vit,simmim_swin}_b_ade20k.py.

Reduced widths and depths: the key layout (what the point is) is the one of
ViT-B / Swin-B; only the sizes shrink."""

import os.path as osp

import pytest
import torch
from mmengine.config import Config

import mmdiverse  # noqa: F401  (registries)
from mmdiverse.checkpoint import export_backbone, load_pretrained_backbone
from mmdiverse.checkpoint.adapt import resize_relative_position_bias_table
from mmdiverse.checkpoint.adapt.extra_token_bias_table import resize_table_with_extra_rows
from tests.helpers.tools import REPO_ROOT

WIDTH, DEPTH, HEADS = 32, 2, 2


def _randomize(module, seed=0):
    """Every tensor distinctive, so a tensor left at its init would differ."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.randn(param.shape, generator=gen))
    return module


def _pretrain(cfg_name, backbone, neck):
    """The model of a pretraining config, reduced."""
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'pretrain', cfg_name))
    cfg.model.backbone.update(backbone)
    cfg.model.neck.update(neck)
    init_default_scope('mmpretrain')
    return _randomize(MODELS.build(cfg.model))


def _segmentor(cfg_name, checkpoint, backbone, heads_in):
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'seg', cfg_name))
    cfg.model.backbone.update(backbone)
    cfg.model.backbone.init_cfg.checkpoint = checkpoint
    cfg.model.decode_head.update(in_channels=heads_in, channels=16)
    cfg.model.auxiliary_head.update(in_channels=heads_in[2], channels=16)
    if cfg.model.get('neck'):
        cfg.model.neck.embed_dim = heads_in[0]
    init_default_scope('mmseg')
    return MODELS.build(cfg.model), cfg


def _export(tmp_path, model):
    """An mmengine training checkpoint of ``model``, exported."""
    path, out = str(tmp_path / 'epoch_1.pth'), str(tmp_path / 'backbone_export.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {'epoch': 1}}, path)
    export_backbone(path, out)
    return out, {
        k[len('backbone.') :]: v
        for k, v in torch.load(out)['state_dict'].items()
        if k.startswith('backbone.')
    }


def test_mae_export_loads_into_the_mae_upernet_backbone_tensor_by_tensor(tmp_path):
    from mmpretrain.models.utils import resize_pos_embed

    mae = _pretrain(
        'mae_vit_b_baseline.py',
        dict(
            arch=dict(
                embed_dims=WIDTH, num_layers=DEPTH, num_heads=HEADS, feedforward_channels=4 * WIDTH
            )
        ),
        dict(embed_dim=WIDTH, decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2),
    )
    path, exported = _export(tmp_path, mae)
    model, _ = _segmentor(
        'upernet_mae_vit_b_ade20k.py',
        path,
        dict(
            embed_dims=WIDTH,
            num_layers=DEPTH,
            num_heads=HEADS,
            img_size=(128, 128),
            out_indices=[0, 0, 1, 1],
        ),
        [WIDTH] * 4,
    )
    model.init_weights()
    report = model.transfer_report
    backbone = model.backbone.state_dict()

    # new on purpose: the layer scales and relative position tables of mmseg's MAE
    assert sorted(report.new) == sorted(
        [f'layers.{i}.gamma_{j}' for i in range(DEPTH) for j in (1, 2)]
        + [f'layers.{i}.attn.relative_position_bias_table' for i in range(DEPTH)]
    )
    # dropped on purpose: the encoder's final norm (the recipe has final_norm=False)
    assert sorted(report.dropped) == ['ln1.bias', 'ln1.weight']
    assert report.adapted == {'pos_embed': f'(1, 197, {WIDTH}) -> (1, 65, {WIDTH})'}
    # every other encoder tensor is used, and equal after loading
    used = set(exported) - {'ln1.weight', 'ln1.bias'}
    assert used == set(report.loaded)
    for key in sorted(used - {'pos_embed'}):
        assert torch.equal(backbone[key], exported[key]), key
    torch.testing.assert_close(
        backbone['pos_embed'],
        resize_pos_embed(exported['pos_embed'], (14, 14), (8, 8), 'bicubic', 1),
        rtol=0,
        atol=0,
    )
    assert len(used) == 4 + 12 * DEPTH  # cls, pos, patch proj w/b; 12 tensors per block


def test_simmim_export_loads_into_the_swin_upernet_backbone_tensor_by_tensor(tmp_path):
    arch = dict(embed_dims=WIDTH, depths=[1, 1, 2, 1], num_heads=[1, 2, 2, 4])
    simmim = _pretrain('simmim_swin_b_baseline.py', dict(arch=arch), dict(in_channels=WIDTH * 8))
    path, exported = _export(tmp_path, simmim)
    model, cfg = _segmentor(
        'upernet_simmim_swin_b_ade20k.py',
        path,
        dict(arch=arch),
        [WIDTH, WIDTH * 2, WIDTH * 4, WIDTH * 8],
    )
    assert cfg.model.backbone.window_size == 7  # the recipe's window (SimMIM: 6)
    model.init_weights()
    report = model.transfer_report
    backbone = model.backbone.state_dict()

    assert sorted(report.new) == [f'norm{i}.{p}' for i in range(3) for p in ('bias', 'weight')]
    assert report.dropped == ['mask_token']
    tables = [k for k in exported if k.endswith('relative_position_bias_table')]
    assert sorted(report.adapted) == sorted(tables) and len(tables) == 5
    for key in tables:  # 11x11 -> 13x13 through the one resize
        assert torch.equal(
            backbone[key], resize_relative_position_bias_table(exported[key], 13 * 13)
        ), key
    derived = {k for k in exported if k.endswith('relative_position_index')}
    used = set(exported) - {'mask_token'} - derived
    assert used == set(report.loaded)
    for key in sorted(used - set(tables)):
        assert torch.equal(backbone[key], exported[key]), key


def test_mae_segmentation_tables_resize_through_the_one_resize(tmp_path):
    """A checkpoint of mmseg's MAE at another crop (its BEiT-layout tables,
    (2h-1)(2w-1) + 3 rows) goes through the project's resize, where mmseg
    1.2.2's own ``resize_rel_pos_embed`` needs SciPy's removed ``interp2d``."""
    from mmseg.models.backbones import MAE

    source = _randomize(MAE(img_size=128, embed_dims=WIDTH, num_layers=1, num_heads=HEADS))
    target = MAE(img_size=64, embed_dims=WIDTH, num_layers=1, num_heads=HEADS)
    key = 'layers.0.attn.relative_position_bias_table'
    assert source.state_dict()[key].shape == (15 * 15 + 3, HEADS)
    state = {f'backbone.{k}': v for k, v in source.state_dict().items()}
    report = load_pretrained_backbone(target, {'state_dict': state}, logger=None)
    assert key in report.adapted and 'pos_embed' in report.adapted
    table = target.state_dict()[key]
    assert table.shape == (7 * 7 + 3, HEADS)
    assert torch.equal(table, resize_table_with_extra_rows(source.state_dict()[key], 52))
    assert torch.equal(table[-3:], source.state_dict()[key][-3:])  # the class-token rows kept
    import scipy
    from mmengine.utils import digit_version

    if digit_version(scipy.__version__) >= digit_version('1.14.0'):
        with pytest.raises(NotImplementedError):
            target.resize_rel_pos_embed(dict(state_dict=dict(source.state_dict())))


def test_mae_export_loads_into_the_fine_tuning_benchmark(tmp_path):
    """configs/finetune/mae_vit_b_in1k.py's own init_cfg (mmpretrain's Pretrained, as the
    benchmark) loads every encoder tensor but the final norm; the benchmark's fc norm
    (``ln2``, avg_featmap) is new."""
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    arch = dict(embed_dims=WIDTH, num_layers=DEPTH, num_heads=HEADS, feedforward_channels=4 * WIDTH)
    mae = _pretrain(
        'mae_vit_b_baseline.py',
        dict(arch=arch),
        dict(embed_dim=WIDTH, decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2),
    )
    path, exported = _export(tmp_path, mae)
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'finetune', 'mae_vit_b_in1k.py'))
    assert cfg.model.backbone.init_cfg.checkpoint == cfg.pretrained
    cfg.model.backbone.update(arch=arch, init_cfg=dict(checkpoint=path))
    cfg.model.head.in_channels = WIDTH
    init_default_scope('mmpretrain')
    model = MODELS.build(cfg.model)
    model.init_weights()
    backbone = model.backbone.state_dict()
    assert set(exported) - set(backbone) == {'ln1.weight', 'ln1.bias'}
    assert set(backbone) - set(exported) == {'ln2.weight', 'ln2.bias'}
    for key in set(exported) & set(backbone):
        assert torch.equal(backbone[key], exported[key]), key
