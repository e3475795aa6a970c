"""The multi-scale + flip test-time augmentation of the segmentation configs.

mmseg 0.x ``--aug-test`` (the Gong et al. fork's evaluation, docs/fidelity.md)
resizes each test image, keeping its aspect ratio, to ``ratio * scale`` for
every ratio, and adds a horizontally flipped copy of each; mmseg 1.x expresses
the same as a ``TestTimeAug`` pipeline (``tools/test.py --tta``). The loaders
are the strict ones of :mod:`mmdiverse.datasets.strict_pipelines`.
"""
from typing import Dict, List, Mapping, Sequence, Tuple

from .strict_pipelines import strict_pipeline


def multi_scale_flip_tta(scale: Tuple[int, int], ratios: Sequence[float],
                         loaders: Mapping[str, Mapping]) -> List[Dict]:
    """A ``tta_pipeline``: ``len(ratios) x 2`` views of each test image.

    Args:
        scale (tuple[int, int]): The test scale ``(long, short)``, e.g.
            ``(2048, 512)``; view ``r`` is resized to ``int(scale * r)``.
        ratios (Sequence[float]): e.g. ``[0.5, 0.75, ..., 1.75]``.
        loaders (Mapping): The ``strict_loaders`` of the config (see
            :func:`~mmdiverse.datasets.strict_pipelines.strict_pipeline`).

    Returns:
        list[dict]: Load image, ``TestTimeAug`` (resizes, no flip / flip,
        load annotations, pack).
    """
    return strict_pipeline([
        dict(type='LoadImageFromFile', backend_args=None),
        dict(type='TestTimeAug', transforms=[
            [dict(type='Resize', scale=(int(scale[0] * r), int(scale[1] * r)), keep_ratio=True)
             for r in ratios],
            [dict(type='RandomFlip', prob=0., direction='horizontal'),
             dict(type='RandomFlip', prob=1., direction='horizontal')],
            strict_pipeline([dict(type='LoadAnnotations')], loaders),
            [dict(type='PackSegInputs')]]),
    ], loaders)
