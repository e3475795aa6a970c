"""CheckpointHook with an atomic ``last_checkpoint`` and a clear error for a broken one.

mmengine 0.10.x (``CheckpointHook._save_checkpoint_with_step``) saves the
checkpoint through the file backend and then writes ``work_dir/last_checkpoint``
with a plain ``open(path, 'w')``, which truncates it first: a job killed in
between leaves it empty, and ``--resume`` fails with ``checkpoint file not
found:`` and an empty name. This subclass writes it with
:func:`~mmdiverse.checkpoint.atomic_write` (a temporary file and a rename) on
the versions named in :data:`ATOMIC_LAST_CHECKPOINT_VERSIONS`, and on resume
refuses an empty, garbled or dangling ``last_checkpoint`` before anything is
loaded (:func:`~mmdiverse.compat.read_last_checkpoint`). Reliability notes:
``docs/reliability.md``.

Config::

    default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook', interval=1))
"""

import os.path as osp

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.registry import HOOKS

from ...checkpoint.atomic_writes import atomic_write
from ...compat.mmengine_last_checkpoint import LAST_CHECKPOINT, read_last_checkpoint
from ...compat.versions import in_range, installed_version

#: mmengine releases whose CheckpointHook writes ``last_checkpoint`` with a plain
#: ``open`` from ``_save_checkpoint_with_step``: ``(lowest, below)``.
ATOMIC_LAST_CHECKPOINT_VERSIONS = ('0.10.0', '0.11.0')


def writes_last_checkpoint_atomically(mmengine_version=None) -> bool:
    """Whether this hook replaces mmengine's ``last_checkpoint`` write (by version)."""
    version = mmengine_version or installed_version('mmengine')
    return in_range(version, *ATOMIC_LAST_CHECKPOINT_VERSIONS)


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` with a crash-safe ``last_checkpoint``.

    Takes exactly ``CheckpointHook``'s arguments. The checkpoints themselves
    are written by the file backend (atomic, with a SHA-256 digest beside
    each, once ``mmdiverse.runtime`` is imported).
    """

    def before_run(self, runner) -> None:
        super().before_run(runner)
        resuming = getattr(runner, '_resume', False) and getattr(runner, '_load_from', 1) is None
        if resuming and is_main_process():
            read_last_checkpoint(runner.work_dir)  # raises LastCheckpointError, naming it

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        if not writes_last_checkpoint_atomically():
            return super()._save_checkpoint_with_step(runner, step, meta)
        self._forget_old_checkpoints(runner, step)
        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args,
        )
        if is_main_process():
            atomic_write(self.last_ckpt, osp.join(runner.work_dir, LAST_CHECKPOINT))

    def _forget_old_checkpoints(self, runner, step) -> None:
        """mmengine's ``max_keep_ckpts`` bookkeeping: drop the oldest kept one."""
        if self.max_keep_ckpts <= 0 or (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            return
        if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
            old = self.keep_ckpt_ids.popleft()
            if is_main_process():
                path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(old))
                if self.file_backend.isfile(path):
                    self.file_backend.remove(path)
                elif self.file_backend.isdir(path):  # deepspeed saves directories
                    self.file_backend.rmtree(path)
        self.keep_ckpt_ids.append(step)
        runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
