"""In a 2-process gloo run, the death of one rank ends the whole job promptly."""

import os
import os.path as osp
import signal
import subprocess
import time

import pytest

from tests.helpers.tools import REPO_ROOT, data_root_options

CONFIG = 'configs/demo/vit_tiny_shapes.py'


def _children(pid):
    out = subprocess.run(['ps', '-o', 'pid=', '--ppid', str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


@pytest.mark.slow
def test_killing_one_rank_stops_the_other(tmp_path, shapes_cls_root):
    work_dir = str(tmp_path / 'run')
    env = dict(os.environ, PORT='29531', PYTHONPATH=REPO_ROOT)
    # dist_cfg.timeout bounds any collective a surviving rank may block in (seconds).
    job = subprocess.Popen(
        [
            'bash',
            'tools/dist_train.sh',
            CONFIG,
            '2',
            '--work-dir',
            work_dir,
            '--cfg-options',
            *data_root_options(shapes_cls_root),
            'train_dataloader.batch_size=4',
            'train_cfg.max_epochs=200',
            'env_cfg.dist_cfg.timeout=60',
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 300
        while not osp.exists(osp.join(work_dir, 'epoch_1.pth')) and time.time() < deadline:
            assert job.poll() is None, job.stdout.read()[-3000:]
            time.sleep(0.2)
        workers = _children(job.pid)
        assert len(workers) == 2, f'expected two ranks under torchrun, found {workers}'
        os.kill(workers[1], signal.SIGKILL)
        killed_at = time.time()
        returncode = job.wait(timeout=120)
        elapsed = time.time() - killed_at
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
    assert returncode != 0
    assert elapsed < 90, f'the job took {elapsed:.0f} s to stop after a rank died'
    assert not any(
        osp.exists(f'/proc/{pid}') and open(f'/proc/{pid}/stat').read().split()[2] != 'Z'
        for pid in workers
    ), 'a rank outlived the job'
