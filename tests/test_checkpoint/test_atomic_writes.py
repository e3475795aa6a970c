import os

import pytest
from mmengine.fileio import get_file_backend

import mmdiverse.runtime  # noqa: F401  (opts in: the atomic backend is mmengine's)
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


def test_files_follow_the_umask_not_mkstemps_600(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write(b'x', tmp_path / 'epoch_1.pth')
        os.umask(0o077)
        atomic_write('{}', tmp_path / 'test_metrics.json')
    finally:
        os.umask(old)
    assert (tmp_path / 'epoch_1.pth').stat().st_mode & 0o777 == 0o644
    assert (tmp_path / 'test_metrics.json').stat().st_mode & 0o777 == 0o600


def _dead_pid():
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, '-c', 'pass'])
    child.wait()
    return child.pid


def test_next_write_removes_temporary_files_of_killed_writers(tmp_path):
    from mmdiverse.checkpoint.atomic_writes import _host

    host, dead = _host(), _dead_pid()
    stale = tmp_path / f'.epoch_2.pth.{host}-{dead}.ab12cd_3.tmp'
    live = tmp_path / f'.epoch_2.pth.{host}-{os.getppid()}.zz12cd_3.tmp'  # pytest's parent
    mine = tmp_path / f'.epoch_3.pth.{host}-{os.getpid()}.qq12cd_3.tmp'
    foreign_new = tmp_path / f'.epoch_2.pth.otherhost-{dead}.ab12cd_4.tmp'
    legacy_old = tmp_path / '.epoch_1.pth.k2j4h5g6.tmp'
    legacy_new = tmp_path / '.epoch_1.pth.k2j4h5g7.tmp'
    unrelated = tmp_path / '.notes.txt.tmp'
    for path in (stale, live, mine, foreign_new, legacy_old, legacy_new, unrelated):
        path.write_bytes(b'partial')
    os.utime(legacy_old, (1e9, 1e9))  # untouched for years
    atomic_write(b'weights', tmp_path / 'epoch_3.pth')
    left = set(os.listdir(tmp_path))
    assert stale.name not in left and legacy_old.name not in left
    assert {
        live.name,
        mine.name,
        foreign_new.name,
        legacy_new.name,
        unrelated.name,
        'epoch_3.pth',
    } == left


def test_atomic_write_names_carry_the_writer(tmp_path, monkeypatch):
    from mmdiverse.checkpoint.atomic_writes import _TMP_NAME

    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append(os.path.basename(src))
        real_replace(src, dst)

    monkeypatch.setattr(os, 'replace', spy)
    atomic_write(b'x', tmp_path / 'epoch_7.pth')
    match = _TMP_NAME.match(seen[0])
    assert match and match['name'] == 'epoch_7.pth' and int(match['pid']) == os.getpid()
