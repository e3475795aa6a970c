import os

import pytest
from mmengine.fileio import get_file_backend

import mmdiverse  # noqa: F401  (installs the atomic backend)
from mmdiverse.checkpoint import AtomicLocalBackend, atomic_write


def test_mmengine_uses_the_atomic_backend_for_local_paths(tmp_path):
    assert isinstance(get_file_backend(str(tmp_path / 'epoch_1.pth')), AtomicLocalBackend)


def test_interrupted_write_keeps_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / 'last_checkpoint'
    atomic_write('epoch_1.pth', target)

    def killed(fd):
        raise KeyboardInterrupt('killed while saving')

    monkeypatch.setattr(os, 'fsync', killed)
    with pytest.raises(KeyboardInterrupt):
        get_file_backend(str(target)).put_text('epoch_2.pth', str(target))
    assert target.read_text() == 'epoch_1.pth'
    assert os.listdir(tmp_path) == ['last_checkpoint']


def test_bytes_round_trip_and_directories_created(tmp_path):
    target = tmp_path / 'a' / 'b' / 'ckpt.pth'
    get_file_backend(str(target)).put(b'\x00\x01weights', str(target))
    assert target.read_bytes() == b'\x00\x01weights'
