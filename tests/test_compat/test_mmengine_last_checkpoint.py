"""Reading mmengine's ``last_checkpoint`` with clear errors
(mmdiverse.compat.mmengine_last_checkpoint; the atomic write: test_safe_checkpoint_hook.py)."""

import pytest

from mmdiverse.compat import LastCheckpointError, read_last_checkpoint


@pytest.mark.parametrize(
    'content, expected',
    [
        (b'', r'last_checkpoint is empty'),
        (b'\x00\x00\xff\xfe', r'last_checkpoint is garbled'),
        (b'epoch_1.pth\n\x00junk', r'last_checkpoint is garbled'),
        (b'work_dirs/gone/epoch_9.pth', r"names 'work_dirs/gone/epoch_9.pth', which is not a file"),
    ],
    ids=['empty', 'binary', 'two-lines', 'dangling'],
)
def test_resume_from_a_broken_last_checkpoint_names_the_file(tmp_path, content, expected):
    (tmp_path / 'last_checkpoint').write_bytes(content)
    with pytest.raises(LastCheckpointError, match=expected) as error:
        read_last_checkpoint(str(tmp_path))
    assert str(tmp_path / 'last_checkpoint') in str(error.value)
    assert '--resume PATH' in str(error.value)


def test_a_good_or_missing_last_checkpoint_reads_as_before(tmp_path):
    assert read_last_checkpoint(str(tmp_path)) is None
    ckpt = tmp_path / 'epoch_2.pth'
    ckpt.write_bytes(b'x')
    (tmp_path / 'last_checkpoint').write_text(f'{ckpt}\n')
    assert read_last_checkpoint(str(tmp_path)) == str(ckpt)
