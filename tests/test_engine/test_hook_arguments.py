"""Unknown hook arguments are refused before the run starts, naming the config key."""

import pytest
from mmengine.hooks import CheckpointHook
from mmengine.runner import Runner

import mmdiverse  # noqa: F401  (registers the hooks)
from mmdiverse.engine.hook_arguments import (
    UnknownHookArgumentError,
    accepted_arguments,
    check_hook_arguments,
)


def test_a_misspelled_checkpoint_option_names_the_key_and_the_nearest_name():
    """CheckpointHook passes unknown keywords to Runner.save_checkpoint, which
    fails only at the first save (after a whole epoch) without this check."""
    hooks = dict(checkpoint=dict(type='CheckpointHook', intervall=2))
    with pytest.raises(
        UnknownHookArgumentError,
        match=r'^default_hooks\.checkpoint\.intervall: CheckpointHook takes no '
        r"argument 'intervall', nor does Runner\.save_checkpoint.*did you mean "
        r"'interval'\?",
    ):
        check_hook_arguments(hooks, None, Runner, 'mmpretrain')


def test_an_unknown_argument_of_a_custom_hook_names_its_index():
    custom = [dict(type='NonFiniteLossHook'), dict(type='RandomStateHook', seed=3)]
    with pytest.raises(
        UnknownHookArgumentError,
        match=r'^custom_hooks\[1\]\.seed: '
        "RandomStateHook takes no argument 'seed'",
    ):
        check_hook_arguments(None, custom, Runner, 'mmpretrain')


@pytest.mark.parametrize(
    'scope,base', [('mmpretrain', 'default_runtime.py'), ('mmseg', 'schedules/schedule_40k.py')]
)
def test_the_toolboxes_default_hooks_pass(tmp_path, scope, base):
    from mmengine.config import Config

    config = tmp_path / 'runtime.py'
    config.write_text(f"_base_ = ['{scope}::_base_/{base}']\n")
    runtime = Config.fromfile(str(config))
    hooks = dict(
        runtime.default_hooks,
        checkpoint=dict(
            type='CheckpointHook',
            interval=1,
            max_keep_ckpts=2,
            save_best='auto',
            save_last=True,
            priority='VERY_LOW',
        ),
    )
    check_hook_arguments(
        hooks, [dict(type='RandomStateHook'), dict(type='ValidationResumeHook')], Runner, scope
    )


def test_a_checkpoint_hook_subclass_is_checked_like_checkpoint_hook():
    hooks = dict(checkpoint=dict(type='SafeCheckpointHook', interval=1, max_keep_ckpt=1))
    with pytest.raises(UnknownHookArgumentError, match="max_keep_ckpt'.*'max_keep_ckpts'"):
        check_hook_arguments(hooks, None, Runner, 'mmseg')


def test_keywords_forwarded_to_an_unknown_receiver_are_left_open():
    """mmpretrain's VisualizationHook passes its **kwargs to the visualizer."""
    from mmpretrain.engine.hooks import VisualizationHook

    assert accepted_arguments(VisualizationHook, Runner) == (None, '')
    check_hook_arguments(
        dict(visualization=dict(type='VisualizationHook', rescale_factor=2.0)),
        None,
        Runner,
        'mmpretrain',
    )


def test_a_runner_whose_save_checkpoint_takes_more_accepts_them():
    class WiderRunner(Runner):
        def save_checkpoint(self, out_dir, filename, *args, compress=False, **kwargs):
            pass

    names, receiver = accepted_arguments(CheckpointHook, WiderRunner)
    assert names is None and receiver == 'save_checkpoint'


def test_an_unregistered_hook_type_names_the_key():
    with pytest.raises(KeyError, match=r'custom_hooks\[0\]\.type=.RandomStateHok'):
        check_hook_arguments(None, [dict(type='RandomStateHok')], Runner, 'mmpretrain')
