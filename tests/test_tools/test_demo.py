import json
import math
import os.path as osp

import pytest

from tests.conftest import run_tool


@pytest.mark.slow
def test_quick_demo_runs_end_to_end(tmp_path):
    work_dir, data_root = str(tmp_path / 'demo'), str(tmp_path / 'data')
    result = run_tool('tools/demo.py', '--quick', '--work-dir', work_dir, '--data-root', data_root,
                      timeout=1500)
    summary = json.load(open(osp.join(work_dir, 'summary.json')))
    assert set(summary['variants']) == {'baseline', 'diverse'}
    for name, variant in summary['variants'].items():
        for key in ('top1', 'mIoU', 'last_layer_patch_similarity', 'wall_time_s'):
            assert math.isfinite(variant[key]), (name, key)
        assert 0 <= variant['top1'] <= 100 and 0 <= variant['mIoU'] <= 100
        # The numbers are the run's own: the test loop's metrics file and the report.
        metrics = json.load(open(osp.join(work_dir, f'pretrain_{name}', 'test',
                                          'test_metrics.json')))
        assert variant['top1'] == metrics['accuracy/top1']
        per_layer = summary['per_layer'][name]['patch_similarity']
        assert len(per_layer) == 4
        assert variant['last_layer_patch_similarity'] == list(per_layer.values())[-1]
    assert osp.getsize(osp.join(work_dir, 'patch_similarity.png')) > 1000
    table = open(osp.join(work_dir, 'summary.md')).read()
    assert '| baseline |' in table and '| diverse |' in table
    assert '| diverse |' in result.stdout
