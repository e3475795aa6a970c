"""mmengine's ``last_checkpoint``: atomic write, clear errors on resume
(mmdiverse.compat.mmengine_last_checkpoint)."""
import io
import os
import signal
import sys
import time
import types

import pytest
import torch
from mmengine.hooks import CheckpointHook
from mmengine.logging import MessageHub, MMLogger

import mmdiverse  # noqa: F401  (installs the fix)
from mmdiverse.compat import LastCheckpointError, read_last_checkpoint


def _runner(work_dir):
    """What CheckpointHook reads of a runner; saving the weights is a no-op."""
    return types.SimpleNamespace(
        work_dir=str(work_dir), logger=MMLogger.get_current_instance(),
        message_hub=MessageHub.get_current_instance(),
        save_checkpoint=lambda *args, **kwargs: None)


def _hook(runner):
    hook = CheckpointHook(interval=1, by_epoch=True)
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
        sys.stdout.flush(), sys.stderr.flush()    # nothing buffered is written twice
        pid = os.fork()
        if pid == 0:                                      # the writer
            try:
                step = 1
                while True:
                    hook._save_checkpoint_with_step(runner, step, {})
                    step += 1
            finally:
                os._exit(0)
        deadline = time.time() + 10
        while not marker.exists() and time.time() < deadline:
            time.sleep(0.001)
        time.sleep(0.003 + 0.004 * attempt)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        content = marker.read_text()
        assert content.startswith(str(tmp_path / 'epoch_')) and content.endswith('.pth'), \
            f'kill {attempt}: last_checkpoint holds {content!r}'
        seen.append(content)
    assert len(set(seen)) > 1                             # the writer did make progress


@pytest.mark.parametrize('content, expected', [
    (b'', r'last_checkpoint is empty'),
    (b'\x00\x00\xff\xfe', r'last_checkpoint is garbled'),
    (b'epoch_1.pth\n\x00junk', r'last_checkpoint is garbled'),
    (b'work_dirs/gone/epoch_9.pth', r"names 'work_dirs/gone/epoch_9.pth', which is not a file"),
], ids=['empty', 'binary', 'two-lines', 'dangling'])
def test_resume_from_a_broken_last_checkpoint_names_the_file(tmp_path, content, expected):
    from mmengine.runner import Runner
    (tmp_path / 'last_checkpoint').write_bytes(content)
    runner = Runner(model=torch.nn.Linear(2, 2), work_dir=str(tmp_path), resume=True)
    with pytest.raises(LastCheckpointError, match=expected) as error:
        runner.load_or_resume()
    assert str(tmp_path / 'last_checkpoint') in str(error.value)
    assert '--resume PATH' in str(error.value)


def test_a_good_or_missing_last_checkpoint_reads_as_before(tmp_path):
    assert read_last_checkpoint(str(tmp_path)) is None
    ckpt = tmp_path / 'epoch_2.pth'
    ckpt.write_bytes(b'x')
    (tmp_path / 'last_checkpoint').write_text(f'{ckpt}\n')
    assert read_last_checkpoint(str(tmp_path)) == str(ckpt)
    from mmengine.runner import find_latest_checkpoint
    assert find_latest_checkpoint(str(tmp_path)) == str(ckpt)


def test_other_files_of_the_hook_module_open_normally(tmp_path):
    from mmengine.hooks import checkpoint_hook
    path = tmp_path / 'notes.txt'
    with checkpoint_hook.open(path, 'w') as f:
        assert isinstance(f, io.TextIOWrapper)            # the builtin open
        f.write('plain')
    assert path.read_text() == 'plain'
