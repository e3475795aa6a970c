"""mmdiverse.datasets.strict_pipelines: the stock loaders re-typed, the rest kept."""
import pytest
from mmengine.config import ConfigDict

from mmdiverse.datasets.strict_pipelines import strict_pipeline

SEG_LOADERS = dict(LoadImageFromFile=dict(type='CheckedLoadImageFromFile'),
                   LoadAnnotations=dict(type='CheckedLoadAnnotations', num_classes=150))


def test_loaders_are_swapped_and_every_other_argument_kept():
    pipeline = [ConfigDict(type='LoadImageFromFile', backend_args=None),
                ConfigDict(type='LoadAnnotations', reduce_zero_label=True),
                ConfigDict(type='RandomResize', scale=(2048, 1024), keep_ratio=True),
                ConfigDict(type='PackSegInputs')]
    out = strict_pipeline(pipeline, SEG_LOADERS)
    assert out == [dict(type='CheckedLoadImageFromFile', backend_args=None),
                   dict(type='CheckedLoadAnnotations', reduce_zero_label=True, num_classes=150),
                   dict(type='RandomResize', scale=(2048, 1024), keep_ratio=True),
                   dict(type='PackSegInputs')]
    assert pipeline[0].type == 'LoadImageFromFile', 'the recipe itself is not modified'


def test_a_pipeline_without_the_stock_loaders_is_refused():
    with pytest.raises(ValueError, match=r"holds none of \['LoadImageFromFile'\]"):
        strict_pipeline([dict(type='LoadImageFromNDArray'), dict(type='PackInputs')],
                        dict(LoadImageFromFile=dict(type='CheckedLoadImageFromFile')))


@pytest.mark.parametrize('loaders', [
    dict(LoadImageFromFile=dict(type='LoadImageFromFile')),
    dict(LoadAnnotations=dict(type='CheckedLoadImageFromFile')),
    dict(LoadPointsFromFile=dict(type='CheckedLoadImageFromFile')),
])
def test_a_replacement_that_is_not_the_strict_loader_is_refused(loaders):
    with pytest.raises(ValueError, match=r'strict_loaders\['):
        strict_pipeline([dict(type='LoadImageFromFile')], loaders)
