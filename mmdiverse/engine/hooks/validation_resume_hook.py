"""Run again, after ``--resume``, a validation that a kill interrupted."""

import json
import os
import os.path as osp

from mmengine.dist import broadcast_object_list, is_main_process
from mmengine.hooks import CheckpointHook, Hook
from mmengine.registry import HOOKS

from ...checkpoint.atomic_writes import atomic_write

#: Written to ``work_dir`` when a validation of the training starts, removed when it ends.
MARKER = 'validation_in_progress.json'


@HOOKS.register_module()
class ValidationResumeHook(Hook):
    """Make a validation killed mid-way run again when the run is resumed.

    The train loops save a step's checkpoint (``after_train_epoch`` /
    ``after_train_iter``) and then validate; a run killed during that
    validation resumes from the checkpoint *after* it, so the validation's
    metrics row, and a best checkpoint it would have saved, are lost. This
    hook writes ``work_dir/validation_in_progress.json`` (the step's
    ``epoch`` and ``iter``) when a validation of the training starts and
    removes it when the validation ends. On resume, when the file names the
    step of the resumed checkpoint, the validation runs before training goes
    on, with ``CheckpointHook`` holding its checkpoint as its last one, as in
    the uninterrupted run, so that a new best saves that checkpoint again with
    the best score. Its random draws do not reach training (``RandomStateHook``
    puts the streams back after every validation).

    With several ranks, rank 0 reads the file and tells the others.

    Config::

        custom_hooks = [dict(type='RandomStateHook'), dict(type='ValidationResumeHook')]
    """

    # After RandomStateHook and CheckpointHook (VERY_LOW): the validation run
    # again in before_train needs the restored streams and the checkpoint folder.
    priority = 'LOWEST'

    def __init__(self):
        self._training = False
        self._resumed = False

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._resumed = bool(getattr(runner, '_resume', False))

    def before_train(self, runner) -> None:
        self._training = True
        if self._resumed and _interrupted_here(runner):
            runner.logger.info(
                f'ValidationResumeHook: the validation at epoch {runner.epoch}, '
                f'iter {runner.iter} was interrupted; it runs again now.'
            )
            for hook in runner.hooks:
                if isinstance(hook, CheckpointHook) and hook.last_ckpt is None:
                    hook.last_ckpt = runner.message_hub.get_info('last_ckpt')
            runner.val_loop.run()

    def after_train(self, runner) -> None:
        self._training = False

    def before_val(self, runner) -> None:
        if self._training and is_main_process():
            atomic_write(json.dumps(dict(epoch=runner.epoch, iter=runner.iter)), _marker(runner))

    def after_val(self, runner) -> None:
        if self._training and is_main_process() and osp.exists(_marker(runner)):
            os.remove(_marker(runner))


def _marker(runner) -> str:
    return osp.join(runner.work_dir, MARKER)


def _interrupted_here(runner) -> bool:
    """Whether the marker names the step the run resumes at (rank 0 decides)."""
    decision = [False]
    if is_main_process() and osp.exists(_marker(runner)):
        with open(_marker(runner)) as file:
            step = json.load(file)
        decision[0] = step == dict(epoch=runner.epoch, iter=runner.iter)
    broadcast_object_list(decision)
    return decision[0]
