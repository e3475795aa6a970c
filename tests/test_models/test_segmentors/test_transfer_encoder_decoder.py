"""TransferEncoderDecoder: strict loading of the pretrained backbone."""

import logging

import pytest
import torch

from mmdiverse.checkpoint import BackboneLoadError
from tests.helpers.tiny_segmentors import (
    build,
    pretrained_swin_checkpoint,
    seg_cfg,
)


def test_pretrained_backbone_is_loaded_strictly_by_init_weights(tmp_path, caplog):
    path = str(tmp_path / 'cls.pth')
    source = pretrained_swin_checkpoint(path)
    model = build(seg_cfg(checkpoint=path))
    assert model.backbone.init_cfg is None  # taken over from mmengine
    assert model.backbone_pretrained['checkpoint'] == path
    model.init_weights()
    target = model.backbone.state_dict()
    for key, value in source.items():
        if not key.endswith('relative_position_index'):
            assert torch.equal(target[key], value), key
    report = model.transfer_report
    assert len(report.loaded) == len(source) - 8  # 8 index buffers are rebuilt
    assert sorted(report.new) == sorted(
        f'norm{i}.{p}' for i in range(3) for p in ('weight', 'bias')
    )
    model.init_weights()  # a second call does not reload
    assert model.transfer_report is report


def test_missing_backbone_key_stops_init_weights(tmp_path):
    path = str(tmp_path / 'broken.pth')
    pretrained_swin_checkpoint(path, drop=('stages.3.blocks.0.norm1.weight',))
    model = build(seg_cfg(checkpoint=path))
    with pytest.raises(BackboneLoadError, match=r'stages\.3\.blocks\.0\.norm1\.weight'):
        model.init_weights()


def test_without_a_pretrained_entry_the_backbone_stays_random(caplog):
    model = build(seg_cfg())
    assert model.backbone_pretrained is None
    with caplog.at_level(logging.WARNING):
        model.init_weights()
    assert model.transfer_report is None


def test_unknown_transfer_option_is_rejected():
    with pytest.raises(ValueError, match='backbone_transfer: unknown keys'):
        build(seg_cfg(backbone_transfer=dict(new_key=['x'])))


def test_transfer_is_a_class_method_not_a_rebound_backbone_method(tmp_path, monkeypatch):
    """The transfer runs from the segmentor's own ``init_weights``; nothing
    is assigned onto the live backbone (issue 20.1)."""
    path = str(tmp_path / 'cls.pth')
    pretrained_swin_checkpoint(path)
    model = build(seg_cfg(checkpoint=path))
    seen = []
    own = type(model.backbone).init_weights

    def spy(backbone):
        seen.append('init_weights' in vars(backbone))
        own(backbone)

    monkeypatch.setattr(type(model.backbone), 'init_weights', spy)
    model.init_weights()
    assert seen == [False] and 'init_weights' not in vars(model.backbone)
    assert model.transfer_report is not None


@pytest.mark.parametrize('strict', [True, False])
def test_diverse_segmentor_has_the_terms_with_or_without_strict_transfer(tmp_path, strict):
    """Strict loading and the diversity terms are separate: a segmentor can have
    either, both or neither."""
    from mmdiverse.models.diversity import DiversityMixin
    from mmdiverse.models.segmentors import StrictBackboneTransfer

    path = str(tmp_path / 'cls.pth')
    source = pretrained_swin_checkpoint(path)
    cfg = seg_cfg('upernet_swin_l_ade20k_diverse_ft.py', checkpoint=path, strict_transfer=strict)
    if not strict:
        cfg.backbone_transfer = None
    model = build(cfg)
    assert isinstance(model, DiversityMixin) and isinstance(model, StrictBackboneTransfer)
    assert model.with_diversity
    # strict: the Pretrained entry is taken from mmengine; not strict: it stays with it
    assert (model.backbone.init_cfg is None) == strict
    model.init_weights()
    assert (model.transfer_report is not None) == strict
    loaded = model.backbone.state_dict()
    assert torch.equal(
        loaded['stages.0.blocks.0.norm1.weight'], source['stages.0.blocks.0.norm1.weight']
    )
    transfer_only = build(seg_cfg(checkpoint=path))
    assert not isinstance(transfer_only, DiversityMixin)
    with pytest.raises(ValueError, match='backbone_transfer needs strict_transfer=True'):
        build(
            seg_cfg(
                'upernet_swin_l_ade20k_diverse_ft.py',
                strict_transfer=False,
                backbone_transfer=dict(new_keys=['norm0.*']),
            )
        )
