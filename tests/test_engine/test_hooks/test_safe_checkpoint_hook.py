"""SafeCheckpointHook: atomic ``last_checkpoint``, a broken one refused before resuming."""

import os
import signal
import sys
import time
import types

import pytest
import torch
from mmengine.hooks import CheckpointHook
from mmengine.logging import MessageHub, MMLogger
from mmengine.runner import Runner

from mmdiverse.compat import LastCheckpointError
from mmdiverse.engine.hooks import SafeCheckpointHook, safe_checkpoint_hook


def _runner(work_dir):
    """What CheckpointHook reads of a runner; saving the weights is a no-op."""
    return types.SimpleNamespace(
        work_dir=str(work_dir),
        logger=MMLogger.get_current_instance(),
        message_hub=MessageHub.get_current_instance(),
        save_checkpoint=lambda *args, **kwargs: None,
    )


def _hook(runner):
    hook = SafeCheckpointHook(interval=1, by_epoch=True)
    hook.before_train(runner)
    return hook


def test_checkpoint_hook_writes_it_atomically_with_the_umask(tmp_path):
    runner = _runner(tmp_path)
    hook = _hook(runner)
    old = os.umask(0o022)
    try:
        hook._save_checkpoint_with_step(runner, 1, {})
    finally:
        os.umask(old)
    marker = tmp_path / 'last_checkpoint'
    assert marker.read_text() == str(tmp_path / 'epoch_1.pth')
    assert marker.stat().st_mode & 0o777 == 0o644
    assert os.listdir(tmp_path) == ['last_checkpoint']


def test_an_interrupted_write_keeps_the_previous_content(tmp_path, monkeypatch):
    """A write interrupted before the rename leaves the old file whole (the
    plain ``open(..., 'w')`` truncates it first)."""
    runner = _runner(tmp_path)
    hook = _hook(runner)
    hook._save_checkpoint_with_step(runner, 1, {})
    real_replace = os.replace

    def killed_before_rename(src, dst):
        if os.path.basename(dst) == 'last_checkpoint':
            raise KeyboardInterrupt('killed while writing last_checkpoint')
        real_replace(src, dst)

    monkeypatch.setattr(os, 'replace', killed_before_rename)
    with pytest.raises(KeyboardInterrupt):
        hook._save_checkpoint_with_step(runner, 2, {})
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'epoch_1.pth')
    assert os.listdir(tmp_path) == ['last_checkpoint']


def test_sigkill_during_repeated_writes_never_leaves_it_empty(tmp_path):
    """A forked writer saves last_checkpoint in a loop through the hook and is
    killed at random moments; the file always names a checkpoint."""
    runner = _runner(tmp_path)
    hook = _hook(runner)
    marker = tmp_path / 'last_checkpoint'
    seen = []
    for attempt in range(8):
        sys.stdout.flush(), sys.stderr.flush()  # nothing buffered is written twice
        pid = os.fork()
        if pid == 0:  # the writer
            try:
                step = 1000 * attempt + 1
                while True:
                    hook._save_checkpoint_with_step(runner, step, {})
                    step += 1
            finally:
                os._exit(0)
        deadline = time.time() + 10
        first = str(tmp_path / f'epoch_{1000 * attempt + 1}.pth')
        while time.time() < deadline and not (marker.exists() and marker.read_text() == first):
            time.sleep(0.001)
        time.sleep(0.003 + 0.004 * attempt)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        content = marker.read_text()
        assert content.startswith(str(tmp_path / 'epoch_')) and content.endswith('.pth'), (
            f'kill {attempt}: last_checkpoint holds {content!r}'
        )
        seen.append(content)
    assert len(set(seen)) == 8  # each writer wrote before its kill


def test_outside_its_mmengine_versions_it_is_mmengines_hook(tmp_path, monkeypatch):
    """Above the bound the write is mmengine's own (a plain open of last_checkpoint)."""
    assert safe_checkpoint_hook.writes_last_checkpoint_atomically('0.10.7')
    assert not safe_checkpoint_hook.writes_last_checkpoint_atomically('0.11.0')
    assert not safe_checkpoint_hook.writes_last_checkpoint_atomically('0.9.1')
    monkeypatch.setattr(safe_checkpoint_hook, 'installed_version', lambda name: '0.11.0')
    calls = []
    monkeypatch.setattr(
        CheckpointHook,
        '_save_checkpoint_with_step',
        lambda self, runner, step, meta: calls.append(step),
    )
    runner = _runner(tmp_path)
    _hook(runner)._save_checkpoint_with_step(runner, 3, {})
    assert calls == [3] and not (tmp_path / 'last_checkpoint').exists()


def test_max_keep_ckpts_removes_the_oldest_as_mmengine_does(tmp_path):
    runner = _runner(tmp_path)
    runner.save_checkpoint = lambda out_dir, name, *a, **k: (tmp_path / name).write_bytes(b'x')
    hook = SafeCheckpointHook(interval=1, by_epoch=True, max_keep_ckpts=2)
    hook.before_train(runner)
    for step in (1, 2, 3):
        hook._save_checkpoint_with_step(runner, step, {})
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['epoch_2.pth', 'epoch_3.pth']
    assert list(hook.keep_ckpt_ids) == [2, 3]
    assert runner.message_hub.get_info('keep_ckpt_ids') == [2, 3]


@pytest.mark.parametrize(
    'content, expected',
    [
        (b'', r'last_checkpoint is empty'),
        (b'\x00\x00\xff\xfe', r'last_checkpoint is garbled'),
        (b'work_dirs/gone/epoch_9.pth', r"names 'work_dirs/gone/epoch_9.pth', which is not a file"),
    ],
    ids=['empty', 'binary', 'dangling'],
)
def test_resume_from_a_broken_last_checkpoint_stops_before_loading(tmp_path, content, expected):
    (tmp_path / 'last_checkpoint').write_bytes(content)
    runner = Runner(
        model=torch.nn.Linear(2, 2),
        work_dir=str(tmp_path),
        resume=True,
        default_hooks=dict(checkpoint=dict(type='SafeCheckpointHook')),
    )
    with pytest.raises(LastCheckpointError, match=expected) as error:
        runner.call_hook('before_run')
    assert str(tmp_path / 'last_checkpoint') in str(error.value)


def test_without_resume_a_broken_last_checkpoint_is_left_alone(tmp_path):
    (tmp_path / 'last_checkpoint').write_bytes(b'')
    runner = Runner(
        model=torch.nn.Linear(2, 2),
        work_dir=str(tmp_path),
        default_hooks=dict(checkpoint=dict(type='SafeCheckpointHook')),
    )
    runner.call_hook('before_run')
