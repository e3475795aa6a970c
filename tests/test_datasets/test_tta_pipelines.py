"""mmdiverse.datasets.tta_pipelines."""
import pytest

from mmdiverse.datasets.tta_pipelines import multi_scale_flip_tta

LOADERS = dict(LoadImageFromFile=dict(type='CheckedLoadImageFromFile'),
               LoadAnnotations=dict(type='CheckedLoadAnnotations', num_classes=19))


def test_views_are_the_ratios_of_the_scale_with_and_without_flip():
    pipeline = multi_scale_flip_tta((2049, 1025), [0.5, 1.0, 1.75], LOADERS)
    assert pipeline[0] == dict(type='CheckedLoadImageFromFile', backend_args=None)
    resizes, flips, annotations, pack = pipeline[1]['transforms']
    assert [r['scale'] for r in resizes] == [(1024, 512), (2049, 1025), (3585, 1793)]
    assert all(r['keep_ratio'] for r in resizes)
    assert [f['prob'] for f in flips] == [0., 1.]
    assert annotations == [dict(type='CheckedLoadAnnotations', num_classes=19)]
    assert pack == [dict(type='PackSegInputs')]


def test_a_wrong_strict_loader_is_refused():
    with pytest.raises(ValueError, match='strict_loaders'):
        multi_scale_flip_tta((2048, 512), [1.0], dict(LoadImageFromFile=dict(type='Nope')))
