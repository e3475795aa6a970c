"""Models: losses, taps, the diversity regularizer, classifiers, segmentors,
self-supervised models, augments, necks."""
from . import losses  # noqa: F401
from . import taps  # noqa: F401
from . import diversity  # noqa: F401
from . import batch_augments  # noqa: F401
from . import classifiers  # noqa: F401
from . import segmentors  # noqa: F401
from . import selfsup  # noqa: F401
from . import necks  # noqa: F401
