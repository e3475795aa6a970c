"""Shared fixtures. The helpers behind them live in ``tests/helpers/``; a test module takes
them as fixtures (or, for module-level constants, from ``tests.helpers``), never from another
test module.

The session runs torch on one thread per process (``OMP_NUM_THREADS``, inherited by the tools
the tests start; set it to override): the tests' tiny models gain nothing from a second
thread, and on a shared 2-core machine two spinning threads per process cost several times the
CPU and the wall-clock time of one.
"""

import os

import pytest

from tests.helpers.fast_init import skip_random_init as _skip_random_init
from tests.helpers.tools import REPO_ROOT
from tests.helpers.tools import data_root_options as _data_root_options
from tests.helpers.tools import run_tool as _run_tool

pytest_plugins = ['tests.helpers.cpu_budget']


def pytest_configure(config):
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    import torch

    torch.set_num_threads(int(os.environ['OMP_NUM_THREADS']))


@pytest.fixture(scope='session')
def repo_root():
    """The repository's root directory."""
    return REPO_ROOT


@pytest.fixture(scope='session', name='run_tool')
def run_tool_fixture():
    """``run_tool(*args, timeout=600, check=True, env=None)``: ``python <args>`` from the
    repository root (tests/helpers/tools.py)."""
    return _run_tool


@pytest.fixture(scope='session', name='data_root_options')
def data_root_options_fixture():
    """``data_root_options(root)``: ``--cfg-options`` pointing every dataloader at ``root``."""
    return _data_root_options


@pytest.fixture(scope='session', name='skip_random_init')
def skip_random_init_fixture():
    """A context manager that builds full-size models without their random init fills."""
    return _skip_random_init


@pytest.fixture(scope='session')
def count_host_reads():
    """A context manager yielding a ``Counter`` of host reads of tensor values
    (tests/helpers/host_reads.py)."""
    from tests.helpers.host_reads import counting_host_reads

    return counting_host_reads


@pytest.fixture(scope='session')
def diversity_terms():
    """The five terms of configs/pretrain/_base_/diversity.py, as a fresh dict per call."""
    from tests.helpers.configs import diversity_terms

    return diversity_terms


@pytest.fixture(scope='session')
def narrow_model():
    """``narrow_model(model_cfg, factor=8)``: a ViT / Swin model config at 1/factor width
    (tests/helpers/narrow_models.py)."""
    from tests.helpers.narrow_models import narrow_model

    return narrow_model


@pytest.fixture(scope='session')
def shapes_cls_root(tmp_path_factory):
    """32 training and 8 validation 32x32 images of 4 shape classes."""
    from mmdiverse.datasets import make_classification_set

    return make_classification_set(
        str(tmp_path_factory.mktemp('shapes_cls')),
        num_classes=4,
        train_per_class=8,
        val_per_class=2,
        img_size=32,
    )


@pytest.fixture(autouse=True)
def no_leftover_default_scope():
    """Each test starts with no mmengine default scope (a Runner or
    ``init_default_scope`` in an earlier test would otherwise leak its scope)."""
    from mmengine.registry import DefaultScope

    DefaultScope._instance_dict.clear()
    yield
