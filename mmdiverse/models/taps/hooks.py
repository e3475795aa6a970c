"""The module hooks of one capture, removed together when it ends."""

from typing import Callable, List

import torch.nn as nn


class HookSet:
    """Registers PyTorch module hooks and undo callbacks; :meth:`close`
    removes / runs them all, the last registered first.

    A tap installs everything it needs through one ``HookSet`` inside
    ``capture()``, so the backbone is stock again once the context exits,
    also when the forward pass raised.
    """

    def __init__(self):
        self._undo: List[Callable[[], None]] = []

    def forward_hook(self, module: nn.Module, fn) -> None:
        """``fn(module, args, output)`` after ``module`` runs."""
        self._undo.append(module.register_forward_hook(fn).remove)

    def pre_hook(self, module: nn.Module, fn) -> None:
        """``fn(module, args)`` before ``module`` runs."""
        self._undo.append(module.register_forward_pre_hook(fn).remove)

    def on_exit(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` when the capture ends (e.g. restore an attribute)."""
        self._undo.append(fn)

    def close(self) -> None:
        while self._undo:
            self._undo.pop()()
