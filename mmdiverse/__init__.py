"""mmdiverse: patch-diversity regularizers for vision transformers.

Importing the package registers its modules into the mmengine, mmpretrain and
mmseg registries and changes nothing else, so a config needs only::

    custom_imports = dict(imports=['mmdiverse'], allow_failed_imports=False)

The one exception is the lite install's ``mmcv._ext`` stand-in
(:mod:`mmdiverse.compat.mmcv_ext_standin`), found only where no compiled
``mmcv._ext`` exists. The checkpoint hardening (safe loading, atomic writes
with digests, compat fixes) is opt-in: ``import mmdiverse.runtime``.
"""

from .compat import mmcv_ext_standin

mmcv_ext_standin.install()  # before anything below imports mmcv.ops

from . import datasets, engine, models  # noqa: E402,F401  (registration)
from .version import __version__  # noqa: E402

__all__ = ['__version__']
