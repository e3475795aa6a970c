"""NonFiniteLossHook in a Runner: bad loss terms, bad gradients, bounded skips, checkpoints."""
import math

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import mmdiverse  # noqa: F401
from mmdiverse.checkpoint import safe_load
from mmdiverse.engine.hooks import (NonFiniteCheckpointError, NonFiniteGradientError,
                                    NonFiniteLossError, NonFiniteLossHook)
from mmdiverse.engine.hooks.non_finite_checks import non_finite_tensors
from tests.conftest import data_root_options

CONFIG = 'configs/demo/vit_tiny_shapes_diverse.py'
BASELINE = 'configs/demo/vit_tiny_shapes.py'
HEAD_WEIGHT = 'head.layers.head.weight'


def _runner(tmp_path, data_root, config=CONFIG, hook=None, **options):
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(dict(arg.split('=', 1) for arg in data_root_options(data_root)))
    cfg.merge_from_dict({  # 32 images: 2 iterations per epoch
        'train_dataloader.batch_size': 16, 'train_cfg.max_epochs': 2,
        'custom_hooks': [dict(type='NonFiniteLossHook', **(hook or {}))], **options})
    cfg.work_dir = str(tmp_path)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    return Runner.from_cfg(cfg)


def _hook(runner):
    return next(h for h in runner.hooks if isinstance(h, NonFiniteLossHook))


def _poison_gradient(runner, name, iterations):
    """Make ``name``'s gradient NaN at the given (1-based) iterations; the loss stays finite."""
    param = dict(runner.model.named_parameters())[name]
    param.register_hook(lambda grad: grad * math.nan if runner.iter + 1 in iterations else grad)
    return param


def _finite(runner):
    return all(torch.isfinite(p).all() for p in runner.model.parameters())


def _saved_checkpoints_are_finite(tmp_path):
    return all(not non_finite_tensors(safe_load(str(path))) for path in tmp_path.glob('*.pth'))


@pytest.mark.slow
def test_raise_names_the_term_and_iteration_before_any_step(tmp_path, shapes_cls_root):
    runner = _runner(tmp_path, shapes_cls_root, **{'model.diversity.attn_div.loss_weight':
                                                    math.nan})
    with pytest.raises(NonFiniteLossError, match=r'iteration 1 .*loss_attn_div=nan'):
        runner.train()
    assert _finite(runner)
    assert not list(tmp_path.glob('*.pth'))


@pytest.mark.slow
def test_loss_skips_are_bounded(tmp_path, shapes_cls_root):
    runner = _runner(tmp_path, shapes_cls_root, hook=dict(action='skip'),
                     **{'model.diversity.attn_div.loss_weight': math.nan})
    with pytest.raises(NonFiniteLossError, match=r'iteration 4 .*4 optimizer steps in a row '
                       r'were skipped .*max_consecutive_skips=3'):
        runner.train()
    assert _hook(runner).skipped_iters == [1, 2, 3, 4]
    assert _finite(runner) and _saved_checkpoints_are_finite(tmp_path)
    assert not runner.optim_wrapper.optimizer.state  # the optimizer never stepped


@pytest.mark.slow
def test_a_nan_gradient_with_a_finite_loss_stops_before_the_step(tmp_path, shapes_cls_root):
    runner = _runner(tmp_path, shapes_cls_root, config=BASELINE)
    param = _poison_gradient(runner, HEAD_WEIGHT, iterations={2})
    with pytest.raises(NonFiniteGradientError,
                       match=rf'iteration 2 .*{HEAD_WEIGHT} \(grad norm nan\)') as error:
        runner.train()
    assert 'loss' not in str(error.value).split(':')[0]
    assert torch.isfinite(param).all() and _finite(runner)
    assert runner.optim_wrapper.optimizer.state  # iteration 1 was taken


@pytest.mark.slow
def test_skip_drops_only_the_bad_gradient_steps(tmp_path, shapes_cls_root):
    runner = _runner(tmp_path, shapes_cls_root, config=BASELINE, hook=dict(action='skip'))
    _poison_gradient(runner, HEAD_WEIGHT, iterations={2, 3})
    runner.train()
    hook = _hook(runner)
    assert hook.skipped_iters == [2, 3]
    assert _finite(runner) and _saved_checkpoints_are_finite(tmp_path)
    steps = {float(state['step']) for state in runner.optim_wrapper.optimizer.state.values()}
    assert steps == {2.0}  # iterations 1 and 4


@pytest.mark.slow
def test_an_infinite_total_norm_under_clipping_does_not_end_in_success(tmp_path,
                                                                       shapes_cls_root):
    """loss_weight=1e30: every gradient element is finite but their norm overflows,
    so clipping would scale every update to zero and the run would 'succeed'."""
    runner = _runner(tmp_path, shapes_cls_root, config=BASELINE,
                     **{'model.head.loss.loss_weight': 1e30})
    with pytest.raises(NonFiniteGradientError, match=r'iteration 1 .*grad norm'):
        runner.train()
    runner = _runner(tmp_path / 'skip', shapes_cls_root, config=BASELINE,
                     hook=dict(action='skip'), **{'model.head.loss.loss_weight': 1e30})
    with pytest.raises(NonFiniteGradientError, match=r'iteration 4 .*4 optimizer steps in a row'):
        runner.train()
    assert _saved_checkpoints_are_finite(tmp_path / 'skip')


@pytest.mark.slow
def test_exploding_learning_rate_never_reaches_a_checkpoint(tmp_path, shapes_cls_root):
    runner = _runner(tmp_path, shapes_cls_root, config=BASELINE,
                     **{'optim_wrapper.optimizer.lr': 1e6, 'train_cfg.max_epochs': 4})
    with pytest.raises((NonFiniteGradientError, NonFiniteLossError)):
        runner.train()
    assert _finite(runner)
    assert _saved_checkpoints_are_finite(tmp_path)


def test_a_checkpoint_with_a_nan_is_not_saved():
    hook = NonFiniteLossHook()
    hook._allowed_non_finite = {'attn_mask'}
    runner = type('R', (), {'iter': 6, 'epoch': 0})()
    good = {'state_dict': {'w': torch.ones(2), 'blocks.0.attn_mask': torch.tensor([-math.inf])},
            'optimizer': {'state': {0: {'exp_avg': torch.zeros(2)}}}}
    hook.before_save_checkpoint(runner, good)
    bad = dict(good, optimizer={'state': {0: {'exp_avg': torch.tensor([0., math.inf])}}})
    with pytest.raises(NonFiniteCheckpointError, match=r'iteration 7 .*optimizer\.state\.0\.'
                       r'exp_avg\. The checkpoints already on disk'):
        hook.before_save_checkpoint(runner, bad)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="'raise' or 'skip'"):
        NonFiniteLossHook(action='ignore')
    with pytest.raises(ValueError, match='max_consecutive_skips'):
        NonFiniteLossHook(max_consecutive_skips=-1)


class _FakeScaler:
    """A dynamic loss scaler: halves its scale on every step it skips."""

    def __init__(self):
        self.scale = 2.**16

    def get_scale(self):
        return self.scale


def test_amp_loss_scaler_skips_are_bounded():
    """AmpOptimWrapper needs a GPU to build; its step is stood in for: a step that
    finds Inf gradients lowers the scale (GradScaler's skip)."""
    hook = NonFiniteLossHook(max_consecutive_skips=2)
    runner = type('R', (), {'iter': 0, 'epoch': 0})()
    wrapper = type('W', (), {})()
    wrapper.loss_scaler = _FakeScaler()
    overflow = {'now': False}

    def step(**kwargs):
        if overflow['now']:
            wrapper.loss_scaler.scale /= 2

    wrapper.step = step
    hook._bound_loss_scaler_skips(runner, wrapper)
    for iteration, overflows in enumerate([True, True, False, True, True]):
        runner.iter, overflow['now'] = iteration, overflows
        wrapper.step()
        hook.after_train_iter(runner, iteration)
    assert hook.skipped_iters == [1, 2, 4, 5]  # never 3 in a row: the run goes on
    runner.iter = 5
    overflow['now'] = True
    with pytest.raises(NonFiniteGradientError, match=r'skipped 3 steps in a row at iteration 6 '
                       r'.*max_consecutive_skips=2'):
        wrapper.step()
