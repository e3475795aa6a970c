import math

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import mmdiverse  # noqa: F401
from mmdiverse.engine.hooks import NonFiniteLossError, NonFiniteLossHook
from tests.conftest import data_root_options

CONFIG = 'configs/demo/vit_tiny_shapes_diverse.py'


def _runner(tmp_path, data_root, action):
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict(dict(arg.split('=', 1) for arg in data_root_options(data_root)))
    cfg.merge_from_dict({
        'model.diversity.attn_div.loss_weight': math.nan,  # one poisoned term
        'train_dataloader.batch_size': 16, 'train_cfg.max_epochs': 2,
        'custom_hooks': [dict(type='NonFiniteLossHook', action=action)],
    })
    cfg.work_dir = str(tmp_path)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    return Runner.from_cfg(cfg)


@pytest.mark.slow
def test_raise_names_the_term_and_iteration_before_any_step(tmp_path, shapes_cls_root):
    runner = _runner(tmp_path, shapes_cls_root, 'raise')
    with pytest.raises(NonFiniteLossError, match=r'iteration 1 .*loss_attn_div=nan'):
        runner.train()
    assert all(torch.isfinite(p).all() for p in runner.model.parameters())
    assert not list(tmp_path.glob('*.pth'))


@pytest.mark.slow
def test_skip_leaves_the_weights_untouched(tmp_path, shapes_cls_root):
    runner = _runner(tmp_path, shapes_cls_root, 'skip')
    runner.train()
    hook = next(h for h in runner.hooks if isinstance(h, NonFiniteLossHook))
    assert hook.skipped_iters == [1, 2, 3, 4]
    assert all(torch.isfinite(p).all() for p in runner.model.parameters())
    # Every step was skipped: the optimizer never stepped.
    assert not runner.optim_wrapper.optimizer.state


def test_rejects_an_unknown_action():
    with pytest.raises(ValueError, match="'raise' or 'skip'"):
        NonFiniteLossHook(action='ignore')
