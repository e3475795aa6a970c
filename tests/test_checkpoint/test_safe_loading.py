import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import _load_checkpoint

import mmdiverse  # noqa: F401  (installs the safe loader into mmengine)
from mmdiverse.checkpoint import UnsafeCheckpointError, safe_load


class _CreatesFileWhenUnpickled:
    """Unpickling this calls ``open(path, 'w')``: a stand-in for any payload."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return open, (self.path, 'w')


def _save_mmengine_like(path):
    buffer = HistoryBuffer()
    buffer.update(1.5)
    torch.save({
        'meta': {'epoch': 2, 'iter': 8, 'seed': np.int64(0), 'acc': np.float64(0.5)},
        'state_dict': {'w': torch.ones(2, 2)},
        'message_hub': {'log_scalars': {'train/loss': buffer},
                        'runtime_info': {'arr': np.arange(3, dtype=np.float32)}},
    }, path)


def test_loads_the_types_mmengine_writes(tmp_path):
    path = str(tmp_path / 'ckpt.pth')
    _save_mmengine_like(path)
    checkpoint = safe_load(path)
    assert checkpoint['meta']['iter'] == 8
    assert isinstance(checkpoint['message_hub']['log_scalars']['train/loss'], HistoryBuffer)
    np.testing.assert_array_equal(checkpoint['message_hub']['runtime_info']['arr'], [0, 1, 2])


def test_mmengine_loader_goes_through_the_allow_list(tmp_path):
    path = str(tmp_path / 'ckpt.pth')
    _save_mmengine_like(path)
    # The stock loader raises "Unsupported global: ...HistoryBuffer" on torch >= 2.6.
    assert _load_checkpoint(path, map_location='cpu')['meta']['epoch'] == 2


@pytest.mark.parametrize('load', [safe_load, _load_checkpoint], ids=['safe_load', 'mmengine'])
def test_refuses_a_crafted_pickle_without_running_it(tmp_path, load):
    marker = tmp_path / 'pwned'
    path = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': {}, 'payload': _CreatesFileWhenUnpickled(str(marker))}, path)
    with pytest.raises(UnsafeCheckpointError, match=r'evil\.pth.*(builtins|io)\.open'):
        load(path)
    assert not marker.exists()


def test_allow_list_is_scoped_to_each_load(tmp_path):
    path = str(tmp_path / 'ckpt.pth')
    _save_mmengine_like(path)
    safe_load(path)
    with pytest.raises(pickle.UnpicklingError, match='Unsupported global'):
        torch.load(path, weights_only=True)


def test_missing_file_is_named(tmp_path):
    missing = osp.join(str(tmp_path), 'nope.pth')
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        safe_load(missing)


class _ReachesAttribute:
    """Unpickles as ``getattr(HistoryBuffer, '__init__')``: not a statistic."""

    def __reduce__(self):
        return getattr, (HistoryBuffer, '__init__')


def test_getattr_is_limited_to_history_buffer_statistics(tmp_path):
    path = str(tmp_path / 'sneaky.pth')
    torch.save({'x': _ReachesAttribute()}, path)
    with pytest.raises(UnsafeCheckpointError, match=r"sneaky\.pth.*'__init__'"):
        safe_load(path)
