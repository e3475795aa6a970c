import pytest

from mmdiverse.analysis.training_log import LogProgress, parse_log_line

# Lines copied from logs of tools/train.py and tools/test.py on the demo configs
# (mmengine 0.10.7): epoch-based pretraining, its validation, iteration-based
# UperNet training (several loss keys) and a test loop.
EPOCH_TRAIN = (
    '2026/12/01 13:01:23 - mmengine - INFO - Epoch(train) [2][1/1]  base_lr: '
    '5.5000e-05 lr: 5.5000e-05  eta: 0:00:00  time: 14.9351  data_time: 0.1638  '
    'grad_norm: 0.3150  loss: 1.3861'
)
EPOCH_TRAIN_PADDED = (
    '12/01 13:02:11 - mmengine - INFO - Epoch(train)  [3][ 50/94]  base_lr: '
    '1.0000e-03 lr: 9.5000e-04  eta: 1 day, 2:03:04  time: 0.0912  '
    'data_time: 0.0040  grad_norm: 1.2000  loss: 0.8012  loss_cls: 0.7000  '
    'loss_patch_cos: 0.1012  patch_cos_sim: 0.2024'
)
VAL = (
    '2026/12/01 13:04:17 - mmengine - INFO - Epoch(val) [1][1/1]    eta: 0:00:00  '
    'time: 2.8070  data_time: 0.0676  '
)
VAL_METRICS = (
    '2026/12/01 13:04:17 - mmengine - INFO - Epoch(val) [1][1/1]    '
    'accuracy/top1: 12.5000  data_time: 0.0676  time: 2.8070'
)
ITER_TRAIN = (
    '2026/12/01 13:02:19 - mmengine - INFO - Iter(train) [4/6]  base_lr: 7.0612e-05 '
    'lr: 7.0612e-05  eta: 0:00:51  time: 25.8872  data_time: 0.5563  loss: 0.6965  '
    'decode.loss_ce: 0.4963  decode.acc_seg: 12.7432  aux.loss_ce: 0.2003  '
    'aux.acc_seg: 11.4004'
)
TEST = (
    '12/01 13:10:02 - mmengine - INFO - Epoch(test) [20/80]    eta: 0:00:04  '
    'time: 0.0200  data_time: 0.0010  '
)


def test_epoch_based_train_line():
    assert parse_log_line(EPOCH_TRAIN) == LogProgress(
        mode='train', by_epoch=True, epoch=2, iter=1, total=1, eta='0:00:00', loss=1.3861
    )


def test_padded_positions_days_of_eta_and_loss_not_taken_from_terms():
    progress = parse_log_line(EPOCH_TRAIN_PADDED)
    assert (progress.epoch, progress.iter, progress.total) == (3, 50, 94)
    assert progress.eta == '1 day, 2:03:04'
    assert progress.loss == 0.8012  # the total, not loss_cls / loss_patch_cos


def test_iteration_based_train_line_takes_the_total_loss():
    progress = parse_log_line(ITER_TRAIN)
    assert progress == LogProgress(
        mode='train', by_epoch=False, epoch=None, iter=4, total=6, eta='0:00:51', loss=0.6965
    )


@pytest.mark.parametrize(
    'line, mode, epoch, iteration, total, eta',
    [
        (VAL, 'val', 1, 1, 1, '0:00:00'),
        (VAL_METRICS, 'val', 1, 1, 1, None),
        (TEST, 'test', None, 20, 80, '0:00:04'),
    ],
)
def test_val_and_test_lines_have_no_loss(line, mode, epoch, iteration, total, eta):
    progress = parse_log_line(line)
    assert (
        progress.mode,
        progress.epoch,
        progress.iter,
        progress.total,
        progress.eta,
        progress.loss,
    ) == (mode, epoch, iteration, total, eta, None)


@pytest.mark.parametrize(
    'line',
    [
        '',
        '2026/12/01 13:04:12 - mmengine - INFO - Checkpoints will be saved to /tmp/x.',
        'train_cfg = dict(by_epoch=True, max_epochs=2, val_interval=1)',
        '| circle | 12.5 | 40.0 |',
    ],
)
def test_other_lines_are_ignored(line):
    assert parse_log_line(line) is None


def test_non_finite_loss_is_read():
    assert parse_log_line(EPOCH_TRAIN.replace('loss: 1.3861', 'loss: nan')).loss != 1.3861
