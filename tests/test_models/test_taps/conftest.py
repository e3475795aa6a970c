"""Fixtures of the tap tests."""

import pytest
from mmengine.registry import DefaultScope

import mmdiverse  # noqa: F401  (registers everything)


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    """Build with mmpretrain's registries whatever scope other tests set."""
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield
