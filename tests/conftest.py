"""Shared fixtures: tiny synthetic data sets and a runner for the tools."""
import os
import os.path as osp
import contextlib
import subprocess
import sys

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def run_tool(*args, timeout=600, check=True, env=None):
    """Run ``python tools/<args>`` from the repository root; return the result."""
    full_env = dict(os.environ, PYTHONPATH=REPO_ROOT, **(env or {}))
    result = subprocess.run([sys.executable, *args], cwd=REPO_ROOT, env=full_env,
                            capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f'{args} failed ({result.returncode}):\n'
                             f'{result.stdout[-4000:]}\n{result.stderr[-6000:]}')
    return result


def data_root_options(root):
    """``--cfg-options`` pointing every dataloader of a demo config at ``root``."""
    return [f'{split}_dataloader.dataset.data_root={root}' for split in ('train', 'val', 'test')]


@contextlib.contextmanager
def skip_random_init():
    """Allocate parameters without drawing their random initial values.

    Construction (every module, every full-size tensor) runs as usual; only
    the ``torch.nn.init`` fills, which take seconds for a 300M-parameter
    model on the CPU, are skipped. For tests of structure and shapes only.
    """
    import torch
    names = ('uniform_', 'normal_', 'trunc_normal_', 'kaiming_uniform_', 'kaiming_normal_',
             'xavier_uniform_', 'xavier_normal_', 'constant_', 'zeros_', 'ones_')
    originals = {name: getattr(torch.nn.init, name) for name in names}
    try:
        for name in names:
            setattr(torch.nn.init, name, lambda tensor, *args, **kwargs: tensor)
        yield
    finally:
        for name, fn in originals.items():
            setattr(torch.nn.init, name, fn)


@pytest.fixture(scope='session')
def shapes_cls_root(tmp_path_factory):
    """32 training and 8 validation 32x32 images of 4 shape classes."""
    from mmdiverse.datasets import make_classification_set
    return make_classification_set(str(tmp_path_factory.mktemp('shapes_cls')), num_classes=4,
                                   train_per_class=8, val_per_class=2, img_size=32)


@pytest.fixture(autouse=True)
def no_leftover_default_scope():
    """Each test starts with no mmengine default scope (a Runner or
    ``init_default_scope`` in an earlier test would otherwise leak its scope)."""
    from mmengine.registry import DefaultScope
    DefaultScope._instance_dict.clear()
    yield
