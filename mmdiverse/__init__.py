"""mmdiverse: patch-diversity regularizers for vision transformers.

Importing the package registers its modules into the mmpretrain and mmseg
registries, routes mmengine's checkpoint loading through the safe loader
(:mod:`mmdiverse.checkpoint.safe_loading`) and makes its local writes atomic
(:mod:`mmdiverse.checkpoint.atomic_writes`), installs the work-arounds of
:mod:`mmdiverse.compat`, so configs only need::

    custom_imports = dict(imports=['mmdiverse'], allow_failed_imports=False)
"""
from .compat import mmcv_ext_standin

mmcv_ext_standin.install()  # before anything below imports mmcv.ops

from .checkpoint import install_atomic_local_backend, install_safe_checkpoint_loader  # noqa: E402
from .compat import install_compat_fixes  # noqa: E402
from .version import __version__  # noqa: E402

install_safe_checkpoint_loader()
install_atomic_local_backend()
install_compat_fixes()

from . import datasets, engine, models  # noqa: E402,F401  (registration side effects)

__all__ = ['__version__']
