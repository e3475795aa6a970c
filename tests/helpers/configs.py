"""The project's config fragments as the tests read them (never retyped)."""

import os.path as osp

from .tools import REPO_ROOT

DIVERSITY_FRAGMENT = osp.join(REPO_ROOT, 'configs', 'pretrain', '_base_', 'diversity.py')


def diversity_terms():
    """The five terms and coefficients of ``configs/pretrain/_base_/diversity.py``,
    ``{name: dict(type=..., loss_weight=...)}`` in the fragment's order."""
    from mmengine.config import Config

    return Config.fromfile(DIVERSITY_FRAGMENT).diversity_terms.to_dict()
