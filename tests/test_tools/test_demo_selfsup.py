"""The demo's self-supervised track (tools/demo/selfsup.py) end to end at the fewest
iterations, and mmseg's stock tools/test.py on its UperNet."""

import math
import os.path as osp
import re

import pytest

from tests.helpers.tools import data_root_options, run_tool


def test_track_sizes_follow_the_demo_scale():
    from tools.demo.pipeline import SCALES
    from tools.demo.selfsup import selfsup_scale

    default, quick = selfsup_scale(SCALES['default']), selfsup_scale(SCALES['quick'])
    assert (default['pretrain_epochs'], default['seg_iters']) == (3, 100)
    assert (quick['pretrain_epochs'], quick['seg_iters']) == (1, 2)


@pytest.mark.slow
def test_track_runs_and_stock_mmseg_test_prints_miou(shapes_cls_root, tmp_path):
    import mmseg

    from mmdiverse.datasets import make_segmentation_set
    from tools.demo.pipeline import SCALES
    from tools.demo.progress import StepRunner
    from tools.demo.selfsup import SEG_CONFIG, TERMS, run_selfsup

    seg_root = make_segmentation_set(
        str(tmp_path / 'seg'), num_classes=4, num_train=4, num_val=2, img_size=64
    )
    section = run_selfsup(
        StepRunner(), shapes_cls_root, seg_root, str(tmp_path / 'demo'), SCALES['quick']
    )

    assert set(section['variants']) == {'baseline', 'diverse'}
    for variant in section['variants'].values():
        assert 0 <= variant['mIoU'] <= 100
    for report in section['per_layer'].values():  # the three levels, 4 blocks each
        assert len(report['patch_similarity']) >= 4 and report['condition_number']
    assert osp.isfile(section['plot'])
    assert set(section['gradient_share']) == set(TERMS)
    assert all(
        math.isfinite(s['share']) and s['share'] > 0 for s in section['gradient_share'].values()
    )
    text = section['markdown']
    assert '| MAE baseline |' in text and '| MAE diverse |' in text
    assert 'gradient vs reconstruction' in text

    stock = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools', 'test.py')
    result = run_tool(
        stock,
        SEG_CONFIG,
        section['variants']['diverse']['seg_checkpoint'],
        '--work-dir',
        str(tmp_path / 'stock_test'),
        '--cfg-options',
        *data_root_options(seg_root),
        timeout=600,
    )
    assert re.search(r'mIoU: \d+\.\d+', result.stdout + result.stderr)
