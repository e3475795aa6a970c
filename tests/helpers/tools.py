"""Running the repository's tools as a user does: ``python <tool> ...`` from the root."""

import os
import os.path as osp
import subprocess
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def run_tool(*args, timeout=600, check=True, env=None):
    """Run ``python <args>`` from the repository root; return the result."""
    full_env = dict(os.environ, PYTHONPATH=REPO_ROOT, **(env or {}))
    result = subprocess.run(
        [sys.executable, *args],
        cwd=REPO_ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f'{args} failed ({result.returncode}):\n'
            f'{result.stdout[-4000:]}\n{result.stderr[-6000:]}'
        )
    return result


def data_root_options(root):
    """``--cfg-options`` pointing every dataloader of a demo config at ``root``."""
    return [f'{split}_dataloader.dataset.data_root={root}' for split in ('train', 'val', 'test')]
