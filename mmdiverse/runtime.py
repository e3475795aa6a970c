"""The opt-in hardening of mmengine's checkpoint I/O: ``import mmdiverse.runtime``.

``import mmdiverse`` only registers modules. A config that wants this
project's checkpoint handling imports this module as well (the runtime
fragments ``configs/*/_base_/mmdiverse_runtime.py`` do)::

    custom_imports = dict(imports=['mmdiverse', 'mmdiverse.runtime'],
                          allow_failed_imports=False)

Importing it calls :func:`install`, which uses only mmengine's registration
APIs (``CheckpointLoader.register_scheme``, ``register_backend``):

* the safe loaders (:mod:`mmdiverse.checkpoint.safe_loading`) for local paths
  and ``http(s)://`` URLs, keeping mmengine's names ``load_from_local`` and
  ``load_from_http``: ``weights_only`` with an allow-list, digest checked;
* the atomic ``'local'`` file backend (:mod:`mmdiverse.checkpoint.atomic_writes`),
  which writes a SHA-256 digest beside each checkpoint;
* the compat fixes the installed versions need (:mod:`mmdiverse.compat`).

The other hardening is named in the configs: ``SafeCheckpointHook``
(atomic ``last_checkpoint``), ``NonFiniteLossHook`` and ``RandomStateHook``.
"""

from .checkpoint.atomic_writes import install_atomic_local_backend
from .checkpoint.safe_loading import install_safe_checkpoint_loader
from .compat import install_compat_fixes


def install() -> None:
    """Register the safe loaders, the atomic backend and the compat fixes (idempotent)."""
    install_safe_checkpoint_loader()
    install_atomic_local_backend()
    install_compat_fixes()


install()
