"""Swap the strict loaders into a recipe's data pipeline, by transform type.

The paper-scale configs inherit mmpretrain / mmseg recipes whose pipelines
start with mmcv's ``LoadImageFromFile`` (and mmseg's ``LoadAnnotations``).
``strict_pipeline`` returns the same pipeline with those entries re-typed to
``CheckedLoadImageFromFile`` / ``CheckedLoadAnnotations``
(:mod:`mmdiverse.datasets.transforms.checked_loading`), every other argument
of the recipe kept. A config calls it at parse time, so the resolved config
(what stock ``tools/train.py`` of mmpretrain or mmseg builds) already holds
the strict loaders::

    from mmdiverse.datasets.strict_pipelines import strict_pipeline
    strict_loaders = dict(LoadImageFromFile=dict(type='CheckedLoadImageFromFile'))
    val_dataloader = dict(dataset=dict(pipeline=strict_pipeline(
        _base_.val_dataloader.dataset.pipeline, strict_loaders)))

(mmengine drops imported functions from the resolved config.)
"""
from typing import Dict, List, Mapping, Sequence

#: The stock loaders and the strict transform each one is replaced by.
STRICT_REPLACEMENTS = {'LoadImageFromFile': 'CheckedLoadImageFromFile',
                       'LoadAnnotations': 'CheckedLoadAnnotations'}


def strict_pipeline(pipeline: Sequence[Mapping],
                    loaders: Mapping[str, Mapping]) -> List[Dict]:
    """``pipeline`` with each transform named in ``loaders`` updated by it.

    Args:
        pipeline (Sequence[Mapping]): a recipe's transforms, each a dict with
            a ``type``.
        loaders (Mapping[str, Mapping]): stock type -> the keys that replace
            it, e.g. ``{'LoadAnnotations': dict(type='CheckedLoadAnnotations',
            num_classes=150)}``. Each replacement's ``type`` must be the strict
            loader of :data:`STRICT_REPLACEMENTS`.

    Returns:
        list[dict]: the transforms in the same order; the replaced ones keep
        all the recipe's other arguments.

    Raises:
        ValueError: a replacement is not the strict loader of its stock type,
            or the pipeline holds none of the stock types in ``loaders``
            (nothing would be checked).
    """
    for stock, replacement in loaders.items():
        expected = STRICT_REPLACEMENTS.get(stock)
        if expected is None or replacement.get('type') != expected:
            raise ValueError(f'strict_loaders[{stock!r}]: expected '
                             f"dict(type={expected!r}, ...) for one of "
                             f'{sorted(STRICT_REPLACEMENTS)}, got {dict(replacement)!r}')
    types = [transform['type'] for transform in pipeline]
    if not set(types) & set(loaders):
        raise ValueError(f'strict_pipeline: the pipeline {types} holds none of '
                         f'{sorted(loaders)}, so no loader would be checked')
    return [dict(transform, **loaders.get(transform['type'], {})) for transform in pipeline]
