"""mmdiverse.checkpoint.convert.swin_official: Microsoft's Swin layout."""

import pytest
import torch

from mmdiverse.checkpoint.convert import convert_state_dict, detect_format
from tests.helpers.fast_init import skip_random_init
from tests.helpers.state_dicts import assert_same_tensors, timm_state_dict

timm = pytest.importorskip('timm')


def test_official_swin_layout_agrees_with_timms_own_importer():
    """Microsoft layout: timm's checkpoint_filter_fn (its importer of the
    Microsoft files) and our converter must read it the same way."""
    from timm.models.swin_transformer import checkpoint_filter_fn

    timm_model = timm.create_model('swin_tiny_patch4_window7_224', device='meta')
    sd = timm_state_dict('swin_tiny_patch4_window7_224')
    official, _ = convert_state_dict(sd, 'timm-swin', 'swin-official')
    assert 'layers.0.downsample.reduction.weight' in official and 'head.weight' in official
    assert official['layers.0.blocks.0.attn.relative_position_index'].shape == (49, 49)
    official['layers.0.blocks.1.attn_mask'] = torch.zeros(64, 49, 49)  # saved by Microsoft's code
    assert detect_format(official) == 'swin-official'
    assert_same_tensors(checkpoint_filter_fn(dict(official), timm_model), sd)
    via_official, report = convert_state_dict(official)
    assert report.dropped == [
        ('layers.0.blocks.1.attn_mask', 'shifted-window mask: mmpretrain computes it')
    ]
    via_timm, _ = convert_state_dict(sd)
    assert_same_tensors(via_official, via_timm)


def test_fork_swin_l_imagenet_release_fits_the_swin_l_config():
    """The fork's Swin-L ImageNet checkpoint (Microsoft layout, window 12 at
    384, 1000 classes): nothing unmapped, the shifted-window masks dropped,
    and backbone + head fit configs/pretrain/swin_l_diverse.py key for key."""
    import os.path as osp

    from mmengine.config import Config

    from mmdiverse.apis import build_model
    from tests.helpers.fork_layouts import SWIN_L, microsoft_swin_classifier
    from tests.helpers.tools import REPO_ROOT

    sd = microsoft_swin_classifier(**SWIN_L, img_size=384, num_classes=1000, device='meta')
    assert detect_format(sd) == 'swin-official'
    converted, report = convert_state_dict(sd)
    assert not report.unmapped
    masks = [k for k in sd if k.endswith('attn_mask')]
    assert len(masks) == 1 + 1 + 9 and sorted(k for k, _ in report.dropped) == sorted(masks)
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'pretrain', 'swin_l_diverse.py'))
    cfg.model.backbone.pop('init_cfg', None)
    with skip_random_init():
        model = build_model(cfg)
    expected = {
        k: (tuple(v.shape), v.dtype)
        for k, v in model.state_dict().items()
        if k.startswith(('backbone.', 'head.'))
    }
    assert {k: (tuple(v.shape), v.dtype) for k, v in converted.items()} == expected
