"""mmdiverse.checkpoint.convert: layout detection and dispatch, end to end
on the published full-size layouts."""

import pytest
import torch

from mmdiverse.checkpoint.convert import convert_state_dict, detect_format
from tests.helpers.fast_init import skip_random_init

timm = pytest.importorskip('timm')


def test_unknown_layout_is_refused():
    with pytest.raises(ValueError, match='unrecognised checkpoint layout'):
        detect_format({'conv1.weight': torch.zeros(1)})


def _meta_state_dict(name):
    return timm.create_model(name, device='meta').state_dict()


@pytest.mark.parametrize(
    'name,backbone',
    [
        (
            'swin_large_patch4_window12_384',
            dict(
                type='SwinTransformer',
                arch='large',
                img_size=384,
                stage_cfgs=dict(block_cfgs=dict(window_size=12)),
            ),
        ),
        ('vit_large_patch16_224', dict(type='VisionTransformer', arch='l', img_size=224)),
    ],
)
def test_published_22k_layouts_fit_our_full_size_backbones(name, backbone):
    """The weights the Swin-L / ViT-L configs start from map onto their
    backbones key for key and shape for shape (timm on the meta device)."""
    sd = _meta_state_dict(name)
    converted, report = convert_state_dict(sd)
    assert not report.unmapped
    if 'swin' in name:  # and through the Microsoft layout of the same weights
        official, _ = convert_state_dict(sd, 'timm-swin', 'swin-official')
        via_official, _ = convert_state_dict(official)
        assert list(via_official) == list(converted)
    from mmpretrain.registry import MODELS

    with skip_random_init():  # shapes only: skip seconds of random fills
        model = MODELS.build(backbone)
    expected = {f'backbone.{k}': tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in converted.items() if k.startswith('backbone.')}
    assert got == expected
