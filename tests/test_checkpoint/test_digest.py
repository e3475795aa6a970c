"""Checkpoint integrity (mmdiverse.checkpoint.digest): a SHA-256 beside each checkpoint
written, checked on every load; corrupt and truncated files named (issue 21.4)."""

import os
import zipfile

import pytest
import torch
from mmengine.fileio import get_file_backend
from mmengine.model.weight_init import PretrainedInit
from mmengine.runner import Runner
from mmengine.runner.checkpoint import save_checkpoint

import mmdiverse.runtime  # noqa: F401  (opts in: the digest-writing backend is mmengine's)
from mmdiverse.checkpoint import (
    CorruptCheckpointError,
    convert_checkpoint,
    export_backbone,
    read_checkpoint,
    safe_load,
    write_checkpoint_bytes,
)
from mmdiverse.checkpoint.digest import digest_path, sha256_of_file, verify_checkpoint


def _flip_tensor_bytes(path, record_suffix='data/0', offset=64):
    """XOR 4 bytes inside a tensor's stored data (not the pickle, not the zip headers)."""
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith(record_suffix))
    with open(path, 'r+b') as f:
        f.seek(info.header_offset + 26)
        name_len, extra_len = (int.from_bytes(f.read(2), 'little') for _ in range(2))
        start = info.header_offset + 30 + name_len + extra_len + offset
        f.seek(start)
        data = f.read(4)
        f.seek(start)
        f.write(bytes(b ^ 0xFF for b in data))


def _checkpoint(value=1.0):
    return {'meta': {'epoch': 1}, 'state_dict': {'w': torch.full((256,), value)}}


def test_the_runner_save_path_writes_a_digest_that_sha256sum_reads(tmp_path):
    path = str(tmp_path / 'epoch_1.pth')
    save_checkpoint(_checkpoint(), path)  # mmengine's writer, through the file backend
    line = open(digest_path(path)).read()
    assert line == f'{sha256_of_file(path)}  epoch_1.pth\n'
    assert torch.equal(safe_load(path)['state_dict']['w'], torch.ones(256))


def test_exports_write_a_digest_too(tmp_path):
    path = str(tmp_path / 'epoch_1.pth')
    torch.save({'state_dict': {'backbone.w': torch.ones(2), 'head.b': torch.zeros(1)}}, path)
    export_backbone(path, str(tmp_path / 'export.pth'))
    verify_checkpoint(str(tmp_path / 'export.pth'))
    assert open(digest_path(str(tmp_path / 'export.pth'))).read().endswith('  export.pth\n')


def test_removing_a_checkpoint_removes_its_digest(tmp_path):
    path = str(tmp_path / 'epoch_1.pth')
    save_checkpoint(_checkpoint(), path)
    get_file_backend(path).remove(path)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('with_digest', [True, False], ids=['digest', 'zip-crc-only'])
def test_four_flipped_bytes_in_a_tensor_are_refused_naming_the_file(tmp_path, with_digest):
    path = str(tmp_path / 'epoch_2.pth')
    save_checkpoint(_checkpoint(), path)
    if not with_digest:  # another tool's checkpoint: the zip's own CRC-32 is checked
        os.remove(digest_path(path))
    _flip_tensor_bytes(path)
    with pytest.raises(
        CorruptCheckpointError,
        match=rf'Checkpoint {path} is corrupt: '
        + ('its SHA-256 is' if with_digest else r"its record '.*data/0'"),
    ):
        safe_load(path)
    with pytest.raises(CorruptCheckpointError, match='epoch_2.pth'):
        read_checkpoint(path)  # the converter's and the exporter's reader
    with pytest.raises(CorruptCheckpointError, match='epoch_2.pth'):
        export_backbone(path, str(tmp_path / 'export.pth'))
    with pytest.raises(CorruptCheckpointError, match='epoch_2.pth'):
        convert_checkpoint(path, str(tmp_path / 'converted.pth'))
    with pytest.raises(CorruptCheckpointError, match='epoch_2.pth'):  # init_cfg=Pretrained
        PretrainedInit(checkpoint=path)(torch.nn.Linear(2, 2))


def test_a_truncated_checkpoint_on_resume_names_it_and_the_intact_earlier_one(tmp_path):
    first, second = str(tmp_path / 'epoch_1.pth'), str(tmp_path / 'epoch_2.pth')
    save_checkpoint(_checkpoint(1.0), first)
    save_checkpoint(_checkpoint(2.0), second)
    os.utime(first, (1, 1))  # the earlier one is older
    (tmp_path / 'last_checkpoint').write_text(second)
    data = open(second, 'rb').read()
    os.remove(digest_path(second))  # without its digest too: the zip is found incomplete
    open(second, 'wb').write(data[: len(data) // 2])
    runner = Runner(model=torch.nn.Linear(2, 2), work_dir=str(tmp_path), resume=True)
    with pytest.raises(CorruptCheckpointError) as error:
        runner.load_or_resume()
    message = str(error.value)
    assert f'Checkpoint {second} is corrupt' in message and 'not a complete zip' in message
    assert f'--resume {first}' in message and 'not used unless you name it' in message
    assert 'PytorchStreamReader' not in message


def test_a_truncated_file_with_its_digest_is_named_with_sizes(tmp_path):
    path = str(tmp_path / 'iter_4.pth')
    save_checkpoint(_checkpoint(), path)
    data = open(path, 'rb').read()
    open(path, 'wb').write(data[: len(data) // 2])
    with pytest.raises(
        CorruptCheckpointError,
        match=rf'iter_4.pth is corrupt: .*changed after '
        rf'it was written \({len(data) // 2} bytes now\)\. No other intact',
    ):
        verify_checkpoint(path)


def test_files_without_a_digest_still_load(tmp_path):
    path = str(tmp_path / 'other_tool.pth')
    torch.save(_checkpoint(3.0), path)
    legacy = str(tmp_path / 'legacy.pth')
    torch.save(_checkpoint(4.0), legacy, _use_new_zipfile_serialization=False)
    assert safe_load(path)['state_dict']['w'][0] == 3.0
    assert safe_load(legacy)['state_dict']['w'][0] == 4.0


def test_a_new_file_never_pairs_with_an_old_digest(tmp_path, monkeypatch):
    """A crash between the checkpoint and its digest leaves a complete file without one."""
    import mmdiverse.checkpoint.atomic_writes as atomic_writes

    path = str(tmp_path / 'epoch_1.pth')
    write_checkpoint_bytes(b'PK-old', path)
    real = atomic_writes.atomic_write

    def killed_at_the_digest(data, target, *args):
        if str(target).endswith('.sha256'):
            raise KeyboardInterrupt('killed')
        real(data, target, *args)

    monkeypatch.setattr(atomic_writes, 'atomic_write', killed_at_the_digest)
    with pytest.raises(KeyboardInterrupt):
        write_checkpoint_bytes(b'new content', path)
    assert open(path, 'rb').read() == b'new content' and not os.path.exists(digest_path(path))
    verify_checkpoint(path)  # no digest, not a zip: nothing to refuse


def test_a_garbled_digest_file_is_named(tmp_path):
    path = str(tmp_path / 'epoch_1.pth')
    save_checkpoint(_checkpoint(), path)
    open(digest_path(path), 'w').write('not a digest\n')
    with pytest.raises(
        CorruptCheckpointError,
        match=r'epoch_1.pth.sha256 .* does not hold a '
        'SHA-256',
    ):
        safe_load(path)
