"""A hook that kills its own process with SIGKILL (for the kill-and-resume tests).

Not a test module: configs of ``test_kill_and_resume.py`` import it through
``custom_imports`` to end a run at a chosen iteration, as ``kill -9`` would,
without depending on how fast the machine is.
"""
import os
import signal

from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class SigkillAtIterHook(Hook):
    """SIGKILL the process when training iteration ``at_iter`` (0-based) starts.

    Args:
        at_iter (int): ``runner.iter`` at which to die (its batch is loaded).
    """

    def __init__(self, at_iter: int):
        self.at_iter = at_iter

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if runner.iter == self.at_iter:
            os.kill(os.getpid(), signal.SIGKILL)
