"""mmdiverse.analysis.seed_stats: mean, sample std and count over seeds."""

import math
import statistics

from mmdiverse.analysis.seed_stats import format_stat, seed_stats


def test_mean_sample_std_and_count():
    stat = seed_stats([76.0, 77.5, 79.0])
    assert stat['mean'] == statistics.mean([76.0, 77.5, 79.0])
    assert math.isclose(stat['std'], statistics.stdev([76.0, 77.5, 79.0]))
    assert stat['n'] == 3 and stat['values'] == [76.0, 77.5, 79.0]


def test_missing_values_are_left_out_and_kept_in_values():
    stat = seed_stats([1.0, None, 3.0])
    assert stat['mean'] == 2.0 and stat['n'] == 2 and stat['values'] == [1.0, None, 3.0]
    assert seed_stats([None, None]) is None and seed_stats([]) is None


def test_one_seed_has_no_spread():
    assert seed_stats([5.0]) == dict(mean=5.0, std=0.0, n=1, values=[5.0])


def test_format():
    assert format_stat(seed_stats([1.0, 2.0, 3.0])) == '2.00 ± 1.00 (3)'
    assert format_stat(seed_stats([0.12345]), 3) == '0.123 (1)'
    assert format_stat(None) == '-'
