"""The safe ``http(s)://`` loader on a machine with an empty torch cache, in one process
and in two gloo ranks (issue 21.9): the cache folder is created, local rank 0 downloads
while the other ranks wait, every rank reads the file through the safe loader."""

import os
import os.path as osp

import pytest
import torch
import torch.multiprocessing as mp

from mmdiverse.checkpoint import safe_loading


def _published(tmp_path):
    source = tmp_path / 'published' / 'deit_tiny.pth'
    source.parent.mkdir()
    torch.save({'state_dict': {'w': torch.arange(6.0)}}, str(source))
    return source.as_uri()  # file:///.../deit_tiny.pth


def _counting_downloads(log_dir):
    """``download_url_to_file`` that leaves one file per call in ``log_dir``."""
    real = safe_loading.download_url_to_file

    def download(url, dst, *args, **kwargs):
        open(osp.join(log_dir, f'download.{os.getpid()}'), 'w').close()
        return real(url, dst, *args, **kwargs)

    return download


def test_one_process_creates_the_cache_folder_and_loads(tmp_path, monkeypatch):
    url = _published(tmp_path)
    torch_home = tmp_path / 'empty_torch_home'
    monkeypatch.setenv('TORCH_HOME', str(torch_home))
    logs = tmp_path / 'logs'
    logs.mkdir()
    monkeypatch.setattr(safe_loading, 'download_url_to_file', _counting_downloads(str(logs)))
    for _ in range(2):  # the second load reads the cache
        checkpoint = safe_loading.load_from_http(url, map_location='cpu')
        assert torch.equal(checkpoint['state_dict']['w'], torch.arange(6.0))
    assert (torch_home / 'hub' / 'checkpoints' / 'deit_tiny.pth').is_file()
    assert len(os.listdir(logs)) == 1


def _rank(rank, url, torch_home, logs, init_file, results):
    os.environ.update(TORCH_HOME=torch_home, LOCAL_RANK=str(rank))
    torch.distributed.init_process_group(
        'gloo', init_method=f'file://{init_file}', rank=rank, world_size=2
    )
    try:
        safe_loading.download_url_to_file = _counting_downloads(logs)
        checkpoint = safe_loading.load_from_http(url, map_location='cpu')
        torch.save(checkpoint['state_dict']['w'], osp.join(results, f'rank{rank}.pt'))
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_two_gloo_ranks_download_once_and_both_load(tmp_path):
    url = _published(tmp_path)
    dirs = {name: tmp_path / name for name in ('torch_home', 'logs', 'results')}
    for name in ('logs', 'results'):
        dirs[name].mkdir()
    mp.spawn(
        _rank,
        nprocs=2,
        args=(
            url,
            str(dirs['torch_home']),
            str(dirs['logs']),
            str(tmp_path / 'init'),
            str(dirs['results']),
        ),
    )
    assert len(os.listdir(dirs['logs'])) == 1  # local rank 0 only
    for rank in (0, 1):
        assert torch.equal(torch.load(str(dirs['results'] / f'rank{rank}.pt')), torch.arange(6.0))
