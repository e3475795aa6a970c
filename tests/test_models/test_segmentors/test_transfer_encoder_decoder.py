"""TransferEncoderDecoder: strict loading of the pretrained backbone."""
import logging

import pytest
import torch

from mmdiverse.checkpoint import BackboneLoadError
from tests.test_models.test_segmentors.tiny_segmentors import (build, pretrained_swin_checkpoint,
                                                               seg_cfg)


def test_pretrained_backbone_is_loaded_strictly_by_init_weights(tmp_path, caplog):
    path = str(tmp_path / 'cls.pth')
    source = pretrained_swin_checkpoint(path)
    model = build(seg_cfg(checkpoint=path))
    assert model.backbone.init_cfg is None             # taken over from mmengine
    assert model.backbone_pretrained['checkpoint'] == path
    model.init_weights()
    target = model.backbone.state_dict()
    for key, value in source.items():
        if not key.endswith('relative_position_index'):
            assert torch.equal(target[key], value), key
    report = model.transfer_report
    assert len(report.loaded) == len(source) - 8         # 8 index buffers are rebuilt
    assert sorted(report.new) == sorted(f'norm{i}.{p}' for i in range(3)
                                        for p in ('weight', 'bias'))
    model.init_weights()                                 # a second call does not reload
    assert model.transfer_report is report


def test_missing_backbone_key_stops_init_weights(tmp_path):
    path = str(tmp_path / 'broken.pth')
    pretrained_swin_checkpoint(path, drop=('stages.3.blocks.0.norm1.weight', ))
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
