"""A stand-in for ``mmcv._ext`` when only ``mmcv-lite`` is installed.

Why this exists: mmsegmentation 1.2.2 imports ``mmcv.ops`` at import time (its
heads and losses import a few ops by name), and ``mmcv.ops`` loads the compiled
extension ``mmcv._ext`` through ``mmcv.utils.ext_loader.load_ext``. The pure
Python wheel ``mmcv-lite==2.1.0`` has no ``_ext``, so ``import mmseg.models``
fails with ``No module named 'mmcv._ext'``, although nothing on the path of
this project (ViT/DeiT/Swin backbones, UperNet/FCN heads, SyncBN, slide
inference, the diversity losses) ever calls a compiled op. Compiling mmcv
2.1.0 against torch 2.14 takes 10-25 minutes on two cores.

What it does: :func:`install` puts a finder at the end of ``sys.meta_path``
that answers only for ``mmcv._ext``, and only after every regular finder has
failed to find a real one. So an environment with the compiled mmcv gets that
mmcv, untouched. The stand-in module answers every attribute lookup with a
function that raises :class:`CompiledOpUnavailableError` naming the op and the
command that builds the compiled mmcv.

How it is installed before anything imports ``mmcv.ops``: the lite set-up
(``make setup``) writes a ``.pth`` file into the venv's site-packages that
loads this file at interpreter start-up as ``mmdiverse.compat.mmcv_ext_standin``
(without importing the rest of the package) and calls :func:`install`, so every
entry point (our tools, mmseg's and mmpretrain's stock ``tools/*.py``,
``torchrun``, a bare ``python -c "import mmseg.models"``) sees it. ``import
mmdiverse`` installs it
too, for environments set up without the ``.pth``. This module imports only
the standard library, so the start-up cost is a few microseconds.
"""

import importlib.abc
import importlib.machinery
import sys
import types

EXTENSION_NAME = 'mmcv._ext'
BUILD_COMMAND = 'MMDIVERSE_MMCV=full make setup'


class CompiledOpUnavailableError(RuntimeError):
    """Raised when a compiled mmcv op is called in the ``mmcv-lite`` install."""


def _unavailable_op(name: str):

    def op(*args, **kwargs):
        raise CompiledOpUnavailableError(
            f"mmcv op '{name}' needs mmcv's compiled extension ({EXTENSION_NAME}), "
            'which this install does not have (mmcv-lite with the mmdiverse '
            f'stand-in). Build the compiled mmcv with: {BUILD_COMMAND}'
        )

    op.__name__ = op.__qualname__ = name
    return op


class _StandInExtension(types.ModuleType):
    """``mmcv._ext`` whose every public attribute is an op that raises."""

    is_mmdiverse_standin = True

    def __getattr__(self, name: str):
        if name.startswith('__'):
            raise AttributeError(name)
        op = _unavailable_op(name)
        setattr(self, name, op)
        return op


class _StandInLoader(importlib.abc.Loader):
    def create_module(self, spec):
        return _StandInExtension(spec.name)

    def exec_module(self, module):
        module.__doc__ = (
            f'mmdiverse stand-in for {EXTENSION_NAME}: every op raises '
            f'CompiledOpUnavailableError; build the real one with '
            f'{BUILD_COMMAND}'
        )


class MMCVExtStandInFinder(importlib.abc.MetaPathFinder):
    """Finds ``mmcv._ext`` only when no other finder can.

    It sits last on ``sys.meta_path``: Python asks it only after the regular
    path finder has looked in ``mmcv``'s package folder and found no compiled
    extension there.
    """

    def find_spec(self, fullname, path=None, target=None):
        if fullname != EXTENSION_NAME:
            return None
        return importlib.machinery.ModuleSpec(fullname, _StandInLoader(), origin='mmdiverse')


def install() -> None:
    """Append the finder to ``sys.meta_path`` once (idempotent)."""
    if not any(type(f).__name__ == MMCVExtStandInFinder.__name__ for f in sys.meta_path):
        sys.meta_path.append(MMCVExtStandInFinder())


def is_standin(module) -> bool:
    """Whether ``module`` (e.g. the imported ``mmcv._ext``) is this stand-in."""
    return bool(getattr(type(module), 'is_mmdiverse_standin', False))
