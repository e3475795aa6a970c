"""Analysis: patch / attention / weight redundancy of trained backbones."""

from .plots import plot_redundancy
from .redundancy import RunningMean, condition_numbers, mean_head_similarity, mean_patch_similarity
from .report import redundancy_report

__all__ = [
    'RunningMean',
    'condition_numbers',
    'mean_head_similarity',
    'mean_patch_similarity',
    'plot_redundancy',
    'redundancy_report',
]
