"""mmdiverse.analysis.run_redundancy: which checkpoint a run's report is measured on."""

import pytest

from mmdiverse.analysis.run_redundancy import last_checkpoint


def test_last_checkpoint_file_first_then_highest_number(tmp_path):
    for name in ('epoch_2.pth', 'epoch_10.pth', 'best_accuracy.pth'):
        (tmp_path / name).write_bytes(b'')
    assert last_checkpoint(str(tmp_path)) == str(tmp_path / 'epoch_10.pth')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_2.pth'))
    assert last_checkpoint(str(tmp_path)) == str(tmp_path / 'epoch_2.pth')
    # a pointer to a file that is gone falls back to the numbered files
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'gone.pth'))
    assert last_checkpoint(str(tmp_path)) == str(tmp_path / 'epoch_10.pth')


def test_no_checkpoint_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=f'{tmp_path}: no checkpoint'):
        last_checkpoint(str(tmp_path))
