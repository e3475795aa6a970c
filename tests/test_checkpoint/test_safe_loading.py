import os
import os.path as osp
import pickle
import re

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import _load_checkpoint

import mmdiverse.runtime  # noqa: F401  (opts in: the safe loaders are mmengine's)
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
    torch.save(
        {
            'meta': {'epoch': 2, 'iter': 8, 'seed': np.int64(0), 'acc': np.float64(0.5)},
            'state_dict': {'w': torch.ones(2, 2)},
            'message_hub': {
                'log_scalars': {'train/loss': buffer},
                'runtime_info': {'arr': np.arange(3, dtype=np.float32)},
            },
        },
        path,
    )


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


class _RunsACommand:
    def __reduce__(self):
        return os.system, ('echo pwned > /dev/null',)


class _Evaluates:
    def __reduce__(self):
        return eval, ('1 + 1',)


def _config_object():
    from mmengine.config import Config

    return Config(dict(a=1))  # a class outside the allow-list


@pytest.mark.parametrize(
    'make_payload, refused',
    [
        (_RunsACommand, r'the global posix\.system \(module posix is blocked'),
        (_Evaluates, r'the global eval,'),
        (_config_object, r'the global mmengine\.config\.config\.Config,'),
    ],
    ids=['blocked-module', 'builtin', 'class'],
)
def test_refusal_names_the_global_in_torch_2_14_wording(tmp_path, make_payload, refused):
    path = str(tmp_path / 'crafted.pth')
    torch.save({'state_dict': {'w': torch.zeros(1)}, 'x': make_payload()}, path)
    with pytest.raises(UnsafeCheckpointError) as error:
        safe_load(path)
    message = str(error.value)
    assert re.search(refused, message), message
    assert 'crafted.pth' in message and "not in mmdiverse's allow-list" in message
    assert 'weights_only' not in message and 'Unsupported operand' not in message


def test_a_plain_pickle_file_is_named_as_such(tmp_path):
    path = str(tmp_path / 'weights.pkl')
    with open(path, 'wb') as f:
        pickle.dump({'w': np.zeros(2)}, f, protocol=4)
    with pytest.raises(UnsafeCheckpointError) as error:
        safe_load(path)
    message = str(error.value)
    assert 'weights.pkl' in message and 'plain pickle stream (protocol 4)' in message
    assert 'pickle.dump' in message and 'weights_only' not in message
    # A legacy (non-zip) torch.save file with the default protocol still loads.
    legacy = str(tmp_path / 'legacy.pth')
    torch.save({'w': torch.ones(2)}, legacy, _use_new_zipfile_serialization=False)
    assert torch.equal(safe_load(legacy)['w'], torch.ones(2))


def test_an_empty_file_is_named(tmp_path):
    path = tmp_path / 'epoch_3.pth'
    path.write_bytes(b'')
    with pytest.raises(EOFError, match=r'epoch_3\.pth is empty'):
        safe_load(str(path))
