"""tools/demo/summary.py: a variant over seeds, its table, and the summary's extra sections."""

import json
import statistics

import pytest

from tools.demo.progress import StepRunner
from tools.demo.summary import variant_summary, variants_table, write_summary


def seed_result(seed, top1, miou, cos):
    return dict(
        seed=seed,
        top1=top1,
        mIoU=miou,
        mAcc=miou + 10,
        aAcc=90.0,
        last_layer_patch_similarity=cos,
        wall_time_s=100.0,
    )


def test_one_seed_is_its_own_numbers():
    summary = variant_summary([seed_result(0, 88.75, 39.0, 0.475)])
    assert summary['top1'] == 88.75 and summary['mIoU'] == 39.0
    assert 'top1_std' not in summary and summary['num_seeds'] == 1
    assert '| baseline | 1 | 88.75 | 39.00 | 0.475 | 100 |' in variants_table({'baseline': summary})


def test_mean_and_std_over_seeds():
    runs = [
        seed_result(0, 80.0, 40.0, 0.4),
        seed_result(1, 84.0, 44.0, 0.2),
        seed_result(2, 82.0, 45.0, 0.3),
    ]
    summary = variant_summary(runs)
    assert summary['top1'] == pytest.approx(82.0)
    assert summary['top1_std'] == pytest.approx(statistics.stdev([80.0, 84.0, 82.0]))
    assert summary['wall_time_s'] == 300.0 and summary['seeds'] == runs
    row = '| diverse | 3 | 82.00 ± 2.00 | 43.00 ± 2.65 | 0.300 ± 0.100 | 300 |'
    assert row in variants_table({'diverse': summary})


def test_sections_land_in_both_files(tmp_path):
    summary = variant_summary([seed_result(0, 80.0, 40.0, 0.4)])
    report = dict(
        patch_similarity={'layers.0': 0.5},
        head_similarity={'layers.0': 0.9},
        condition_number={'layers.0': dict(q=2.0, k=2.0, v=2.0)},
    )
    sections = {
        'selfsup': dict(title='Self-supervised track', markdown='| a | b |', numbers=[1, 2])
    }
    out = write_summary(
        str(tmp_path),
        StepRunner(),
        12.0,
        {'baseline': summary},
        {'baseline': report},
        str(tmp_path / 'p.png'),
        None,
        sections,
    )
    text = open(out).read()
    assert '## Self-supervised track\n\n| a | b |' in text
    assert json.load(open(tmp_path / 'summary.json'))['selfsup']['numbers'] == [1, 2]
