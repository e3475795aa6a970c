"""mmpretrain's bias-table resize routed to the project's one resize
(mmdiverse.compat.mmpretrain_bias_table)."""

import copy

import pytest
import torch

import mmdiverse.runtime  # noqa: F401  (opts in: installs the fix where it applies)
from mmdiverse.checkpoint.adapt import resize_relative_position_bias_table
from mmdiverse.compat import geometric_resize_bias_table, mmpretrain_bias_table
from mmdiverse.compat.mmpretrain_bias_table import install_bias_table_resize, needs_bias_table_fix

ARCH = dict(embed_dims=16, depths=[2, 2], num_heads=[2, 4])


def test_installed_in_every_mmpretrain_module_that_imported_it():
    from mmpretrain.models import utils
    from mmpretrain.models.backbones import beit, swin_transformer
    from mmpretrain.models.utils import embed

    for module in (utils, embed, swin_transformer, beit):
        assert module.resize_relative_position_bias_table is geometric_resize_bias_table


@pytest.mark.parametrize(
    'mmpretrain, scipy, needed',
    [
        ('1.2.0', '1.14.0', True),
        ('1.0.0', '1.17.1', True),  # inside both bounds
        ('1.2.0', '1.13.1', False),  # SciPy still has interp2d
        ('1.2.1', '1.17.1', False),
        ('0.25.0', '1.17.1', False),  # outside mmpretrain's bound
    ],
)
def test_applies_only_to_the_versions_it_names(mmpretrain, scipy, needed):
    assert needs_bias_table_fix(mmpretrain, scipy) is needed


def test_outside_the_bounds_nothing_is_installed(monkeypatch):
    from mmpretrain.models.backbones import swin_transformer

    versions = {'mmpretrain': '1.2.0', 'scipy': '1.13.1'}
    monkeypatch.setattr(mmpretrain_bias_table, 'installed_version', versions.get)
    sentinel = object()
    monkeypatch.setattr(swin_transformer, 'resize_relative_position_bias_table', sentinel)
    assert install_bias_table_resize() == ()
    assert swin_transformer.resize_relative_position_bias_table is sentinel
    versions['scipy'] = '1.14.0'
    assert 'mmpretrain.models.backbones.swin_transformer' in install_bias_table_resize()
    assert swin_transformer.resize_relative_position_bias_table is geometric_resize_bias_table


def test_drop_in_has_mmpretrains_signature_and_checks_the_table():
    table = torch.randn(13 * 13, 3, dtype=torch.float64)
    out = geometric_resize_bias_table(13, 23, table, 3)
    assert out.dtype == torch.float32 and out.shape == (23 * 23, 3)
    assert torch.equal(out, resize_relative_position_bias_table(table.float(), 23 * 23))
    with pytest.raises(ValueError, match=r'expected \(169, 4\)'):
        geometric_resize_bias_table(13, 23, table, 4)


def test_mmpretrain_swin_loads_across_window_sizes():
    """mmpretrain's own load hook resizes the tables (on SciPy >= 1.14 it
    called the removed interp2d and crashed)."""
    from mmpretrain.models.backbones import SwinTransformer

    source = SwinTransformer(arch=ARCH, img_size=56, window_size=7, out_indices=(1,))
    target = SwinTransformer(arch=ARCH, img_size=96, window_size=12, out_indices=(1,))
    result = target.load_state_dict(source.state_dict(), strict=False)
    assert not result.unexpected_keys
    assert all('relative_position_index' in key for key in result.missing_keys)
    table = target.stages[0].blocks[0].attn.w_msa.relative_position_bias_table
    assert table.shape == (23 * 23, 2)
    centre = source.stages[0].blocks[0].attn.w_msa.relative_position_bias_table[6 * 13 + 6]
    torch.testing.assert_close(table[11 * 23 + 11], centre, rtol=1e-4, atol=1e-5)


def _backbone_cfg(window, img_size, checkpoint=None):
    cfg = dict(
        type='mmpretrain.SwinTransformer',
        arch=copy.deepcopy(ARCH),
        img_size=img_size,
        window_size=window,
        use_abs_pos_embed=True,
        out_indices=(0, 1),
        pad_small_map=True,
        drop_path_rate=0.0,
    )
    if checkpoint:
        cfg['init_cfg'] = dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')
    return cfg


def test_classifier_and_segmentor_get_identical_tables_from_one_checkpoint(tmp_path):
    """One window-7 checkpoint loaded at window 12 / a larger image: through
    mmpretrain's own ``Pretrained`` init (its load hooks, with this fix) and
    through TransferEncoderDecoder's strict loader, tensor for tensor."""
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS as CLS_MODELS
    from mmseg.registry import MODELS as SEG_MODELS

    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        source = CLS_MODELS.build(_backbone_cfg(window=7, img_size=56))
    for param in source.parameters():
        param.data.normal_()
    state = {f'backbone.{k}': v for k, v in source.state_dict().items()}
    path = str(tmp_path / 'w7.pth')
    torch.save({'state_dict': state}, path)

    with DefaultScope.overwrite_default_scope('mmpretrain'):
        classifier = CLS_MODELS.build(
            dict(
                type='ImageClassifier',
                backbone=_backbone_cfg(12, 96, path),
                head=dict(type='LinearClsHead', num_classes=3, in_channels=32),
            )
        )
        classifier.init_weights()
    with DefaultScope.overwrite_default_scope('mmseg'):
        segmentor = SEG_MODELS.build(
            dict(
                type='TransferEncoderDecoder',
                backbone=_backbone_cfg(12, 96, path),
                decode_head=dict(
                    type='FCNHead',
                    in_channels=32,
                    in_index=1,
                    channels=8,
                    num_convs=1,
                    num_classes=3,
                    norm_cfg=dict(type='BN'),
                ),
                data_preprocessor=dict(type='SegDataPreProcessor'),
            )
        )
        segmentor.init_weights()

    assert sorted(segmentor.transfer_report.adapted) == sorted(
        k
        for k in source.state_dict()
        if k.endswith('relative_position_bias_table') or k == 'absolute_pos_embed'
    )
    ours, theirs = segmentor.backbone.state_dict(), classifier.backbone.state_dict()
    compared = 0
    for key, value in source.state_dict().items():
        if key.endswith('relative_position_index'):
            continue
        assert torch.equal(ours[key], theirs[key]), key
        compared += 1
    table = 'stages.1.blocks.0.attn.w_msa.relative_position_bias_table'
    assert ours[table].shape == (23 * 23, 4) and not torch.equal(
        ours[table][:169], source.state_dict()[table]
    )
    assert ours['absolute_pos_embed'].shape == (1, 24 * 24, 16)
    assert compared == len(ours) - 4  # every tensor but the 4 index buffers
    assert not segmentor.transfer_report.new
