"""A hook that kills its own process with SIGKILL (for the kill-and-resume tests).

Not a test module: configs of ``test_kill_and_resume.py`` import it through
``custom_imports`` to end a run at a chosen iteration or validation, as
``kill -9`` would, without depending on how fast the machine is.
"""

import os
import signal

from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class SigkillAtIterHook(Hook):
    """SIGKILL the process when training iteration ``at_iter`` (0-based) starts,
    or when the validation run after ``at_val_after_iter`` iterations loads its
    first batch.

    Args:
        at_iter (int, optional): ``runner.iter`` at which to die (its batch is loaded).
        at_val_after_iter (int, optional): ``runner.iter`` of the validation to die in.
    """

    def __init__(self, at_iter=None, at_val_after_iter=None):
        self.at_iter = at_iter
        self.at_val_after_iter = at_val_after_iter

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if runner.iter == self.at_iter:
            os.kill(os.getpid(), signal.SIGKILL)

    def before_val_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if runner.iter == self.at_val_after_iter:
            os.kill(os.getpid(), signal.SIGKILL)
