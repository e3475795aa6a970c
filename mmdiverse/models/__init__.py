"""Models: losses, taps, the diversity regularizer, classifiers, segmentors,
self-supervised models, augments, necks."""

from . import (
    batch_augments,  # noqa: F401
    classifiers,  # noqa: F401
    diversity,  # noqa: F401
    losses,  # noqa: F401
    necks,  # noqa: F401
    segmentors,  # noqa: F401
    selfsup,  # noqa: F401
    taps,  # noqa: F401
)
