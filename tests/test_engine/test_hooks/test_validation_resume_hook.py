"""ValidationResumeHook on its own (runs resumed end to end: test_runner, test_tools)."""

import json
from types import SimpleNamespace
from unittest import mock

from mmengine.hooks import CheckpointHook
from mmengine.logging import MessageHub, MMLogger

from mmdiverse.engine.hooks import ValidationResumeHook
from mmdiverse.engine.hooks.validation_resume_hook import MARKER


def _runner(work_dir, epoch=1, iter=4, resume=True):
    checkpoint_hook = CheckpointHook(interval=1)
    message_hub = MessageHub.get_instance('test_validation_resume_hook')
    message_hub.update_info('last_ckpt', str(work_dir / 'epoch_1.pth'))
    return SimpleNamespace(
        work_dir=str(work_dir),
        epoch=epoch,
        iter=iter,
        _resume=resume,
        hooks=[checkpoint_hook],
        message_hub=message_hub,
        logger=MMLogger.get_instance('test_validation_resume_hook'),
        val_loop=mock.Mock(),
    )


def _validation_killed(runner):
    hook = ValidationResumeHook()
    hook.before_train(runner)
    hook.before_val(runner)  # ... and the process dies here
    return hook


def test_a_validation_marks_its_step_until_it_ends(tmp_path):
    runner = _runner(tmp_path)
    hook = _validation_killed(runner)
    assert json.loads((tmp_path / MARKER).read_text()) == dict(epoch=1, iter=4)
    hook.after_val(runner)
    assert not (tmp_path / MARKER).exists()


def test_a_resume_at_the_killed_validations_step_runs_it_before_training(tmp_path):
    _validation_killed(_runner(tmp_path))
    runner = _runner(tmp_path)
    hook = ValidationResumeHook()
    hook.after_load_checkpoint(runner, {})
    hook.before_train(runner)
    runner.val_loop.run.assert_called_once_with()
    # as in the uninterrupted run, a new best saves the step's checkpoint again
    assert runner.hooks[0].last_ckpt == str(tmp_path / 'epoch_1.pth')


def test_other_steps_fresh_runs_and_validation_outside_training_run_nothing(tmp_path):
    _validation_killed(_runner(tmp_path))
    for runner in (_runner(tmp_path, epoch=2, iter=8), _runner(tmp_path, resume=False)):
        hook = ValidationResumeHook()
        hook.after_load_checkpoint(runner, {})
        hook.before_train(runner)
        runner.val_loop.run.assert_not_called()
    (tmp_path / MARKER).unlink()
    ValidationResumeHook().before_val(_runner(tmp_path))  # runner.val(), no training
    assert not (tmp_path / MARKER).exists()
