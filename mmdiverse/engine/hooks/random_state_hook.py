"""Save the random number generators with each checkpoint and restore them on resume."""

import random

import numpy as np
import torch
from mmengine.dist import get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmengine.runner import IterBasedTrainLoop

_KEY = 'random_state'


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Make ``--resume`` continue the random streams, not restart them.

    mmengine re-seeds every run from ``randomness.seed``, so after a resume the
    batch augmentations (CutMix boxes, Mixup ratios, the ``PatchCutMix``
    pairing) draw the numbers of the *first* epochs again, and an interrupted
    run diverges from an uninterrupted one. This hook stores the Python,
    NumPy and torch (CPU and CUDA) generator states in every checkpoint under
    ``'random_state'`` and restores them when the checkpoint is resumed. The
    states are plain tuples, arrays and byte tensors, which the safe loader
    (``weights_only=True``) accepts.

    Validation runs between a checkpoint and the next training step, and
    building its dataloader iterator draws from torch's generator; the hook
    puts the generators back after validation, so the training streams do
    not depend on when (or whether) the run validates -- which is also what
    makes a resumed run draw exactly what the uninterrupted run drew. A
    checkpoint saved during validation (``save_best`` saves the step's
    checkpoint again after a new best) records the streams of before
    validation, the ones the training goes on with.

    Iteration-based loops: on resume, mmengine's ``IterBasedTrainLoop.run``
    skips the batches already trained on by loading them again, through the
    whole pipeline, and the random transforms (``RandomResize``,
    ``RandomCrop``, ``RandomFlip``, ``PhotoMetricDistortion``...) draw from
    the streams while it does. The hook therefore restores the streams at
    ``before_train`` and again right after the last skipped batch is loaded,
    before the first batch that is trained on, so that batch draws exactly
    what it drew in the uninterrupted run. Epoch-based loops skip nothing;
    there the streams are restored at ``before_train`` only.

    Data loader workers (``num_workers > 0``) run the transforms in their own
    processes, which mmengine seeds from ``randomness.seed`` and the worker id
    whenever workers start; their streams are not in the checkpoint. An
    iteration-based resume replays the skipped batches through fresh workers,
    which brings their streams to where they were. An epoch-based resume with
    ``persistent_workers=True`` starts fresh workers where the uninterrupted
    run's workers continued, so its transforms draw different numbers from the
    resumed epoch on.

    Distributed runs: checkpoints are written by rank 0, so they hold rank
    0's streams. With mmengine's default ``randomness.diff_rank_seed=False``
    every rank draws the same streams, and every rank restores them. With
    ``diff_rank_seed=True`` only rank 0 restores (and continues exactly); the
    other ranks keep the distinct streams mmengine re-seeded them with, so
    ranks never end up sharing a stream; a warning says so.

    Config::

        custom_hooks = [dict(type='RandomStateHook')]
    """

    priority = 'VERY_LOW'

    def __init__(self):
        self._pending = None
        self._before_val = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        # A save during validation (``save_best`` saves the best checkpoint and
        # saves the step's checkpoint again) records the streams the training
        # goes on with: those from before validation, which after_val puts back.
        checkpoint[_KEY] = self._before_val if self._before_val is not None else _capture()

    def before_val(self, runner) -> None:
        self._before_val = _capture()

    def after_val(self, runner) -> None:
        state, self._before_val = self._before_val, None
        if state is not None:
            _restore(state)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # ``load_from`` (fine-tuning) also lands here: only a resume continues streams.
        if not getattr(runner, '_resume', False):
            return
        self._pending = checkpoint.get(_KEY)
        if self._pending is None:
            runner.logger.warning(
                'RandomStateHook: the checkpoint holds no random state '
                '(saved without this hook); the random streams restart.'
            )
        elif get_world_size() > 1 and runner.cfg.get('randomness', {}).get('diff_rank_seed'):
            runner.logger.warning(
                'RandomStateHook: randomness.diff_rank_seed=True and the checkpoint holds '
                "rank 0's random streams only: rank 0 continues them, the other ranks "
                'restart theirs from their seeds.'
            )
            if get_rank() != 0:
                self._pending = None

    def before_train(self, runner) -> None:
        # Applied here at the earliest, not on load: Runner.resume may re-seed
        # after loading (when the configured seed differs from the checkpoint's).
        state, self._pending = self._pending, None
        if state is None:
            return
        # Now, for what runs before the first step (a validation that a kill
        # interrupted runs again here, and may save the step's checkpoint again) ...
        _restore(state)
        loop = runner.train_loop
        if isinstance(loop, IterBasedTrainLoop) and loop.iter > 0:
            # ... and again after the skipped batches (see the class docstring).
            loop.dataloader_iterator = _RestoreAfterSkip(loop, state)


class _RestoreAfterSkip:
    """Stands in for ``IterBasedTrainLoop.dataloader_iterator`` during the
    resume skip: passes the ``loop.iter`` skipped batches through, then
    restores ``state`` and puts the loop's own iterator back.

    Args:
        loop (IterBasedTrainLoop): The loop being resumed.
        state (dict): The random streams of the checkpoint.
    """

    def __init__(self, loop: IterBasedTrainLoop, state: dict):
        self._loop = loop
        self._iterator = loop.dataloader_iterator
        self._remaining = loop.iter
        self._state = state

    def __iter__(self):
        return self

    def __next__(self):
        batch = next(self._iterator)
        self._remaining -= 1
        if self._remaining == 0:
            _restore(self._state)
            self._loop.dataloader_iterator = self._iterator
        return batch


def _capture() -> dict:
    return dict(
        python=random.getstate(),
        numpy=np.random.get_state(),
        torch=torch.get_rng_state(),
        cuda=torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    )


def _restore(state: dict) -> None:
    random.setstate(_as_python_state(state['python']))
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])
    if state['cuda'] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


def _as_python_state(state):
    """``random.setstate`` needs tuples; unpickling may give lists."""
    version, internal, gauss = state
    return version, tuple(internal), gauss
