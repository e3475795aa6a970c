"""RandomStateHook on its own (the end-to-end kill-and-resume runs are in test_tools)."""

import random
from types import SimpleNamespace
from unittest import mock

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.runner import IterBasedTrainLoop

from mmdiverse.engine.hooks import random_state_hook
from mmdiverse.engine.hooks.random_state_hook import RandomStateHook


def _draw():
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def _runner(resume=True, randomness=None, train_loop=None):
    return SimpleNamespace(
        _resume=resume,
        cfg=Config(dict(randomness=randomness or {})),
        logger=MMLogger.get_instance('test_random_state_hook'),
        train_loop=train_loop,
    )


def _checkpoint_then_draw():
    hook, checkpoint = RandomStateHook(), {}
    hook.before_save_checkpoint(None, checkpoint)
    return checkpoint, _draw()


def test_resume_continues_the_streams_from_the_checkpoint():
    checkpoint, after_save = _checkpoint_then_draw()
    torch.manual_seed(123), np.random.seed(123), random.seed(123)  # the re-seeding of a resume
    hook, runner = RandomStateHook(), _runner()
    hook.after_load_checkpoint(runner, checkpoint)
    hook.before_train(runner)
    assert _draw() == after_save


def test_load_from_does_not_touch_the_streams():
    checkpoint, _ = _checkpoint_then_draw()
    torch.manual_seed(5), np.random.seed(5), random.seed(5)
    expected = _draw()
    torch.manual_seed(5), np.random.seed(5), random.seed(5)
    hook, runner = RandomStateHook(), _runner(resume=False)
    hook.after_load_checkpoint(runner, checkpoint)
    hook.before_train(runner)
    assert _draw() == expected


def test_validation_does_not_shift_the_training_streams():
    hook = RandomStateHook()
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    hook.before_val(None)
    torch.rand(100)  # what building a validation iterator may draw
    hook.after_val(None)
    torch.testing.assert_close(torch.rand(3), expected)


def test_a_checkpoint_saved_during_validation_records_the_streams_of_before_it():
    """save_best saves the step's checkpoint again after validation drew from
    torch's stream; a resume from it must continue where training goes on."""
    hook = RandomStateHook()
    torch.manual_seed(0), np.random.seed(0), random.seed(0)
    hook.before_val(None)
    torch.rand(100), np.random.rand(7), random.random()  # validation draws
    checkpoint = {}
    hook.before_save_checkpoint(None, checkpoint)  # the best-score re-save
    hook.after_val(None)
    training_goes_on_with = _draw()
    torch.manual_seed(4), np.random.seed(4), random.seed(4)  # the re-seeding of a resume
    resumed, runner = RandomStateHook(), _runner()
    resumed.after_load_checkpoint(runner, checkpoint)
    resumed.before_train(runner)
    assert _draw() == training_goes_on_with


@pytest.mark.parametrize('rank,restores', [(0, True), (1, False)])
def test_with_diff_rank_seed_only_rank_0_restores(rank, restores):
    checkpoint, after_save = _checkpoint_then_draw()
    torch.manual_seed(7 + rank), np.random.seed(7 + rank), random.seed(7 + rank)
    hook, runner = RandomStateHook(), _runner(randomness=dict(seed=7, diff_rank_seed=True))
    with (
        mock.patch.object(random_state_hook, 'get_world_size', return_value=2),
        mock.patch.object(random_state_hook, 'get_rank', return_value=rank),
        mock.patch.object(runner.logger, 'warning') as warning,
    ):
        hook.after_load_checkpoint(runner, checkpoint)
    hook.before_train(runner)
    assert (_draw() == after_save) is restores
    assert 'diff_rank_seed=True' in warning.call_args[0][0]


def test_without_diff_rank_seed_every_rank_restores():
    checkpoint, after_save = _checkpoint_then_draw()
    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    hook, runner = RandomStateHook(), _runner(randomness=dict(seed=7))
    with (
        mock.patch.object(random_state_hook, 'get_world_size', return_value=2),
        mock.patch.object(random_state_hook, 'get_rank', return_value=1),
    ):
        hook.after_load_checkpoint(runner, checkpoint)
    hook.before_train(runner)
    assert _draw() == after_save


def _batches_drawing_from_the_streams():
    while True:
        yield _draw()  # what RandomResize / RandomCrop / RandomFlip do in the pipeline


def test_an_iteration_based_resume_restores_after_the_skipped_batches():
    """IterBasedTrainLoop.run loads the ``iter`` trained batches again after
    before_train; the streams must be the checkpoint's when the next one is loaded."""
    checkpoint, after_save = _checkpoint_then_draw()
    torch.manual_seed(9), np.random.seed(9), random.seed(9)
    loop = IterBasedTrainLoop.__new__(IterBasedTrainLoop)  # the attributes run() uses
    loop._iter, loop.dataloader_iterator = 3, _batches_drawing_from_the_streams()
    own_iterator = loop.dataloader_iterator
    hook, runner = RandomStateHook(), _runner(train_loop=loop)
    hook.after_load_checkpoint(runner, checkpoint)
    hook.before_train(runner)
    for _ in range(loop.iter):  # IterBasedTrainLoop.run's skip
        next(loop.dataloader_iterator)
    assert loop.dataloader_iterator is own_iterator
    assert next(loop.dataloader_iterator) == after_save  # the first trained batch


def test_an_iteration_based_resume_also_restores_before_the_skip():
    """A validation that a kill interrupted runs again in before_train, before
    the skip; a checkpoint it saves must hold the streams training goes on with."""
    checkpoint, _ = _checkpoint_then_draw()
    torch.manual_seed(9), np.random.seed(9), random.seed(9)
    loop = IterBasedTrainLoop.__new__(IterBasedTrainLoop)
    loop._iter, loop.dataloader_iterator = 3, _batches_drawing_from_the_streams()
    hook, runner = RandomStateHook(), _runner(train_loop=loop)
    hook.after_load_checkpoint(runner, checkpoint)
    hook.before_train(runner)
    hook.before_val(runner)
    torch.rand(5)
    resaved = {}
    hook.before_save_checkpoint(runner, resaved)
    torch.testing.assert_close(
        resaved['random_state']['torch'], checkpoint['random_state']['torch']
    )


def test_a_fresh_iteration_based_run_is_not_wrapped():
    checkpoint, after_save = _checkpoint_then_draw()
    loop = IterBasedTrainLoop.__new__(IterBasedTrainLoop)
    loop._iter, loop.dataloader_iterator = 0, _batches_drawing_from_the_streams()
    hook, runner = RandomStateHook(), _runner(train_loop=loop)
    hook.after_load_checkpoint(runner, checkpoint)
    hook.before_train(runner)
    assert next(loop.dataloader_iterator) == after_save
