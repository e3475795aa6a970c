"""Strict, shape-adapting backbone transfer (mmdiverse.checkpoint.backbone_loading)."""

import copy
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.logging import MMLogger

import mmdiverse  # noqa: F401  (safe loader, registries)
from mmdiverse.checkpoint import BackboneLoadError, UnsafeCheckpointError, load_pretrained_backbone
from mmdiverse.checkpoint.adapt import resize_relative_position_bias_table

TINY_SWIN = dict(embed_dims=32, depths=[2, 2, 2, 2], num_heads=[2, 2, 2, 2])
TINY_VIT = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
SEG_NEW_KEYS = [r'norm[0-2]\..*']


def _swin(window=4, img_size=64, out_indices=(0, 1, 2, 3), **kwargs):
    from mmpretrain.models import SwinTransformer

    return SwinTransformer(
        arch=copy.deepcopy(TINY_SWIN),
        img_size=img_size,
        window_size=window,
        out_indices=out_indices,
        pad_small_map=True,
        drop_path_rate=0.0,
        **kwargs,
    )


def _vit(img_size=32, **kwargs):
    from mmpretrain.models import VisionTransformer

    kwargs.setdefault('out_type', 'featmap')
    return VisionTransformer(
        arch=dict(TINY_VIT), img_size=img_size, patch_size=4, out_indices=[0, 1], **kwargs
    )


def _randomize(module, seed=0):
    """Make every tensor distinctive: a tensor left at its init would differ."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.randn(param.shape, generator=gen))
    return module


def _classifier_checkpoint(path, backbone, num_classes=4, meta=None):
    """What mmpretrain's ImageClassifier saves: backbone.*, head.fc.*."""
    state = {f'backbone.{k}': v.clone() for k, v in backbone.state_dict().items()}
    width = TINY_SWIN['embed_dims'] * 8 if hasattr(backbone, 'stages') else TINY_VIT['embed_dims']
    state['head.fc.weight'] = torch.randn(num_classes, width)
    state['head.fc.bias'] = torch.randn(num_classes)
    torch.save({'meta': {'mmdiverse': meta or {}, 'epoch': 3}, 'state_dict': state}, path)
    return path


def _assert_all_equal(backbone, source, skip=()):
    """Every backbone tensor that ``source`` has equals it (tensor by tensor)."""
    target = backbone.state_dict()
    compared = 0
    for key, value in source.items():
        if key in skip or 'relative_position_index' in key:
            continue
        assert torch.equal(target[key], value), key
        compared += 1
    return compared


def test_classifier_checkpoint_loads_every_backbone_tensor(tmp_path):
    source = _randomize(_swin(out_indices=(3,), window=4))
    path = _classifier_checkpoint(str(tmp_path / 'cls.pth'), source, meta={'window_size': 4})
    target = _swin(window=4)
    report = load_pretrained_backbone(target, path, prefix='backbone.', new_keys=SEG_NEW_KEYS)

    compared = _assert_all_equal(target, source.state_dict())
    derived = [k for k in target.state_dict() if k.endswith('relative_position_index')]
    assert compared == len(report.loaded) == len(source.state_dict()) - len(derived)
    assert sorted(report.new) == sorted(
        f'norm{i}.{p}' for i in range(3) for p in ('weight', 'bias')
    )
    assert report.num_backbone_tensors == len(target.state_dict())
    assert report.outside_prefix == ['head.fc.weight', 'head.fc.bias']
    assert report.meta == {'window_size': 4}
    assert f'loaded {compared}/{len(target.state_dict())} tensors' in report.summary()


def test_window_size_change_resizes_tables_and_keeps_the_index(tmp_path, monkeypatch):
    # mmpretrain's own resize needs scipy.interpolate.interp2d (gone in SciPy 1.14):
    # the transfer must not depend on it.
    import mmpretrain.models.backbones.swin_transformer as swin_module

    def _fail(*args, **kwargs):
        raise AssertionError('mmpretrain resize_relative_position_bias_table was called')

    monkeypatch.setattr(swin_module, 'resize_relative_position_bias_table', _fail)
    source = _randomize(_swin(window=7, out_indices=(3,)))
    path = _classifier_checkpoint(str(tmp_path / 'w7.pth'), source)
    target = _swin(window=12)
    index_before = {
        k: v.clone()
        for k, v in target.state_dict().items()
        if k.endswith('relative_position_index')
    }
    report = load_pretrained_backbone(target, path, new_keys=SEG_NEW_KEYS)

    tables = [k for k in source.state_dict() if k.endswith('relative_position_bias_table')]
    assert sorted(report.adapted) == sorted(tables) and len(tables) == 8
    after = target.state_dict()
    for key in tables:
        old = source.state_dict()[key]
        assert old.shape == (13 * 13, 2) and after[key].shape == (23 * 23, 2)
        assert torch.equal(after[key], resize_relative_position_bias_table(old, 23 * 23))
    for key, index in index_before.items():  # rebuilt for window 12, not loaded
        assert torch.equal(after[key], index)
        assert int(index.max()) == 23 * 23 - 1
    _assert_all_equal(target, source.state_dict(), skip=tables)
    # The resized model runs.
    assert target(torch.randn(1, 3, 64, 64))[-1].shape == (1, 256, 2, 2)


def test_bias_table_resize_keeps_the_centre_and_checks_lengths():
    table = torch.randn(13 * 13, 3)
    assert resize_relative_position_bias_table(table, 13 * 13) is table  # no-op at equal size
    # The centre (zero offset) stays at the centre.
    const = torch.zeros(13 * 13, 1)
    const[6 * 13 + 6] = 1
    assert resize_relative_position_bias_table(const, 23 * 23).argmax() == 11 * 23 + 11
    with pytest.raises(ValueError, match='not a square'):
        resize_relative_position_bias_table(torch.randn(170, 2), 23 * 23)


def test_position_embedding_is_interpolated_to_the_new_grid(tmp_path):
    from mmpretrain.models.utils import resize_pos_embed

    source = _randomize(_vit(img_size=32, out_type='cls_token'))
    path = _classifier_checkpoint(str(tmp_path / 'vit.pth'), source)
    target = _vit(img_size=64)
    report = load_pretrained_backbone(target, path)
    assert list(report.adapted) == ['pos_embed']
    expected = resize_pos_embed(source.pos_embed.detach(), (8, 8), (16, 16), 'bicubic', 1)
    assert torch.equal(target.pos_embed.detach(), expected)
    assert target.pos_embed.shape == (1, 1 + 16 * 16, 32)
    _assert_all_equal(target, source.state_dict(), skip=['pos_embed'])
    assert target(torch.randn(1, 3, 64, 64))[-1].shape == (1, 32, 16, 16)


def test_class_token_entry_is_dropped_when_the_target_has_none(tmp_path):
    from mmpretrain.models.utils import resize_pos_embed

    source = _randomize(_vit(img_size=32, out_type='cls_token'))
    path = _classifier_checkpoint(str(tmp_path / 'vit.pth'), source)
    target = _vit(img_size=64, with_cls_token=False)
    with pytest.raises(BackboneLoadError, match=r'Not in the backbone \(1\): cls_token'):
        load_pretrained_backbone(target, path)
    load_pretrained_backbone(target, path, dropped_keys=['cls_token'])
    expected = resize_pos_embed(source.pos_embed.detach()[:, 1:], (8, 8), (16, 16), 'bicubic', 0)
    assert torch.equal(target.pos_embed.detach(), expected)


def test_missing_backbone_key_stops_and_names_it(tmp_path):
    source = _randomize(_swin(out_indices=(3,)))
    state = {f'backbone.{k}': v for k, v in source.state_dict().items()}
    del state['backbone.stages.2.blocks.1.attn.w_msa.qkv.weight']
    path = str(tmp_path / 'broken.pth')
    torch.save({'state_dict': state}, path)
    target = _swin()
    before = copy.deepcopy(target.state_dict())
    with pytest.raises(BackboneLoadError) as error:
        load_pretrained_backbone(target, path, new_keys=SEG_NEW_KEYS)
    assert 'Missing from the checkpoint (1): stages.2.blocks.1.attn.w_msa.qkv.weight' in str(
        error.value
    )
    assert 'nothing was loaded' in str(error.value)
    for key, value in target.state_dict().items():  # untouched
        assert torch.equal(value, before[key]), key


def test_new_keys_must_be_allowed_explicitly(tmp_path):
    source = _randomize(_swin(out_indices=(3,)))
    path = _classifier_checkpoint(str(tmp_path / 'cls.pth'), source)
    with pytest.raises(BackboneLoadError, match=r'Missing from the checkpoint \(6\): norm0.weight'):
        load_pretrained_backbone(_swin(), path)


def test_mis_shaped_key_stops_with_both_shapes(tmp_path):
    wide = dict(TINY_SWIN, embed_dims=48)
    from mmpretrain.models import SwinTransformer

    source = SwinTransformer(arch=wide, img_size=64, window_size=4, out_indices=(3,))
    path = _classifier_checkpoint(str(tmp_path / 'wide.pth'), source)
    with pytest.raises(BackboneLoadError) as error:
        load_pretrained_backbone(_swin(), path, new_keys=SEG_NEW_KEYS)
    message = str(error.value)
    assert 'Shape mismatch' in message
    assert (
        'patch_embed.projection.weight: checkpoint (48, 3, 4, 4) vs backbone (32, 3, 4, 4)'
        in message
    )


def test_unused_checkpoint_key_stops_unless_dropped(tmp_path):
    source = _randomize(_swin(out_indices=(3,)))
    state = {f'backbone.{k}': v for k, v in source.state_dict().items()}
    state['backbone.extra_token'] = torch.zeros(1, 1, 32)
    path = str(tmp_path / 'extra.pth')
    torch.save({'state_dict': state}, path)
    with pytest.raises(BackboneLoadError, match=r'Not in the backbone \(1\): extra_token'):
        load_pretrained_backbone(_swin(), path, new_keys=SEG_NEW_KEYS)
    report = load_pretrained_backbone(
        _swin(), path, new_keys=SEG_NEW_KEYS, dropped_keys=[r'extra_.*']
    )
    assert report.dropped == ['extra_token']


def test_wrong_prefix_loads_nothing_and_says_so(tmp_path):
    source = _randomize(_swin(out_indices=(3,)))
    path = _classifier_checkpoint(str(tmp_path / 'cls.pth'), source)
    with pytest.raises(BackboneLoadError, match='Missing from the checkpoint'):
        load_pretrained_backbone(_swin(), path, prefix='encoder.', new_keys=SEG_NEW_KEYS)


def _to_official_swin(state):
    """mmpretrain Swin names -> the Microsoft release's names (inverse mapping)."""
    official = {}
    for key, value in state.items():
        if key.startswith('stages.'):
            key = 'layers.' + key[len('stages.') :]
            key = key.replace('.attn.w_msa.', '.attn.').replace('.ffn.layers.0.0.', '.mlp.fc1.')
            key = key.replace('.ffn.layers.1.', '.mlp.fc2.')
            if '.downsample.reduction.' in key:  # unfold order -> concat order
                out_c, in_c = value.shape
                value = value.reshape(out_c, in_c // 4, 4)[:, :, [0, 2, 1, 3]]
                value = value.transpose(1, 2).reshape(out_c, in_c)
            elif '.downsample.norm.' in key:
                value = value.reshape(-1, 4)[:, [0, 2, 1, 3]].t().reshape(-1)
        elif key.startswith('patch_embed.projection.'):
            key = key.replace('patch_embed.projection.', 'patch_embed.proj.')
        elif key.startswith('norm3.'):
            key = key.replace('norm3.', 'norm.')
        official[key] = value
    return official


def test_official_patch_merging_order_matches_mmcv():
    """The official concat order, reordered for mmcv's unfold, gives the same output."""
    from mmcv.cnn.bricks.transformer import PatchMerging

    from mmdiverse.checkpoint.convert.common import merge_order_to_unfold

    torch.manual_seed(0)
    c, h, w = 8, 4, 6
    norm_w, norm_b = torch.randn(4 * c), torch.randn(4 * c)
    reduction = torch.randn(2 * c, 4 * c)
    x = torch.randn(2, h * w, c)
    # Official forward: concat x[0::2, 0::2], x[1::2, 0::2], x[0::2, 1::2], x[1::2, 1::2].
    grid = x.view(2, h, w, c)
    cat = torch.cat(
        [grid[:, 0::2, 0::2], grid[:, 1::2, 0::2], grid[:, 0::2, 1::2], grid[:, 1::2, 1::2]], -1
    ).view(2, -1, 4 * c)
    expected = F.linear(F.layer_norm(cat, (4 * c,), norm_w, norm_b), reduction)
    merging = PatchMerging(c, 2 * c, norm_cfg=dict(type='LN'))
    merging.load_state_dict(
        {
            'reduction.weight': merge_order_to_unfold(reduction),
            'norm.weight': merge_order_to_unfold(norm_w),
            'norm.bias': merge_order_to_unfold(norm_b),
        }
    )
    out, out_hw = merging(x, (h, w))
    assert out_hw == (2, 3)
    torch.testing.assert_close(out, expected)


def test_official_swin_checkpoint_is_converted_on_the_fly(tmp_path):
    source = _randomize(_swin(out_indices=(3,)))
    official = _to_official_swin(source.state_dict())
    official['head.weight'], official['head.bias'] = torch.randn(4, 256), torch.randn(4)
    assert 'layers.0.blocks.0.attn.qkv.weight' in official
    path = str(tmp_path / 'swin_official.pth')
    torch.save({'model': official}, path)
    target = _swin()
    report = load_pretrained_backbone(target, path, new_keys=SEG_NEW_KEYS)
    assert report.source_format == 'swin-official'
    assert report.outside_prefix == ['head.fc.weight', 'head.fc.bias']
    _assert_all_equal(target, source.state_dict())
    x = torch.randn(1, 3, 64, 64)
    target.eval(), source.eval()  # (mmpretrain's Swin.train() returns None)
    torch.testing.assert_close(target(x)[-1], source(x)[-1])


def test_unmapped_keys_of_a_foreign_layout_stop_the_run(tmp_path):
    source = _randomize(_swin(out_indices=(3,)))
    official = _to_official_swin(source.state_dict())
    official['layers.0.blocks.0.attn.extra_scale'] = torch.ones(1)
    path = str(tmp_path / 'odd.pth')
    torch.save({'model': official}, path)
    with pytest.raises(
        BackboneLoadError, match=r'Not in the backbone \(1\): layers.0.blocks.0.attn.extra_scale'
    ):
        load_pretrained_backbone(_swin(), path, new_keys=SEG_NEW_KEYS)


def test_flat_converted_swin_checkpoint_with_legacy_final_norm(tmp_path):
    """mmseg's converted Swin checkpoints: no prefix, final norm called ``norm``."""
    source = _randomize(_swin(out_indices=(3,)))
    flat = {k.replace('norm3.', 'norm.'): v for k, v in source.state_dict().items()}
    path = str(tmp_path / 'flat.pth')
    torch.save(flat, path)
    target = _swin()
    report = load_pretrained_backbone(target, path, prefix='backbone.', new_keys=SEG_NEW_KEYS)
    assert report.source_format == 'mmpretrain'
    assert 'norm3.weight' in report.loaded
    _assert_all_equal(target, source.state_dict())


def test_contradicting_relative_position_index_is_refused(tmp_path):
    source = _randomize(_swin(out_indices=(3,)))
    state = {f'backbone.{k}': v.clone() for k, v in source.state_dict().items()}
    key = 'backbone.stages.0.blocks.0.attn.w_msa.relative_position_index'
    state[key] = state[key].flip(0)
    path = str(tmp_path / 'index.pth')
    torch.save({'state_dict': state}, path)
    with pytest.raises(BackboneLoadError, match='indexes its bias table differently'):
        load_pretrained_backbone(_swin(), path, new_keys=SEG_NEW_KEYS)


def test_unsafe_checkpoint_is_refused(tmp_path):
    class Payload:
        def __reduce__(self):
            return open, (str(tmp_path / 'pwned'), 'w')

    path = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': {'backbone.x': torch.zeros(1)}, 'payload': Payload()}, path)
    with pytest.raises(UnsafeCheckpointError):
        load_pretrained_backbone(_swin(), path)
    assert not osp.exists(tmp_path / 'pwned')


def test_missing_file_names_the_config_key(tmp_path):
    with pytest.raises(FileNotFoundError, match='model.backbone.init_cfg.checkpoint'):
        load_pretrained_backbone(_swin(), str(tmp_path / 'nope.pth'))


def test_summary_is_logged(tmp_path, capsys):
    source = _randomize(_swin(out_indices=(3,)))
    path = _classifier_checkpoint(str(tmp_path / 'cls.pth'), source)
    MMLogger.get_instance('test_backbone_loading', log_level='INFO')
    load_pretrained_backbone(_swin(), path, new_keys=SEG_NEW_KEYS, logger='test_backbone_loading')
    out = capsys.readouterr().out
    assert 'Backbone transfer: loaded 119/133 tensors of SwinTransformer' in out
    assert '6 new (allowed by new_keys' in out
