"""NonFiniteLossHook in a Runner: bad loss terms, bad gradients, bounded skips, checkpoints."""

import math

import pytest
import torch
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper
from mmengine.runner import Runner

import mmdiverse  # noqa: F401
from mmdiverse.checkpoint import safe_load
from mmdiverse.engine.hooks import (
    NonFiniteCheckpointError,
    NonFiniteGradientError,
    NonFiniteLossError,
    NonFiniteLossHook,
)
from mmdiverse.engine.hooks.non_finite_checks import non_finite_tensors
from tests.helpers.tools import data_root_options

CONFIG = 'configs/demo/vit_tiny_shapes_diverse.py'
BASELINE = 'configs/demo/vit_tiny_shapes.py'
HEAD_WEIGHT = 'head.layers.head.weight'


def _runner(tmp_path, data_root, config=CONFIG, hook=None, **options):
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(dict(arg.split('=', 1) for arg in data_root_options(data_root)))
    cfg.merge_from_dict(
        {  # 32 images: 2 iterations per epoch
            'train_dataloader.batch_size': 16,
            'train_cfg.max_epochs': 2,
            'custom_hooks': [dict(type='NonFiniteLossHook', **(hook or {}))],
            **options,
        }
    )
    cfg.work_dir = str(tmp_path)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    return Runner.from_cfg(cfg)


def _nan_attention_term(runner):
    """Make the attention-diversity term NaN at run time (the build refuses a NaN weight)."""
    loss = next(m for m in runner.model.modules() if type(m).__name__ == 'AttentionDiversityLoss')
    loss.loss_weight = math.nan
    return runner


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
    runner = _nan_attention_term(_runner(tmp_path, shapes_cls_root))
    with pytest.raises(NonFiniteLossError, match=r'iteration 1 .*loss_attn_div=nan'):
        runner.train()
    assert _finite(runner)
    assert not list(tmp_path.glob('*.pth'))


@pytest.mark.slow
def test_loss_skips_are_bounded(tmp_path, shapes_cls_root):
    runner = _nan_attention_term(_runner(tmp_path, shapes_cls_root, hook=dict(action='skip')))
    with pytest.raises(
        NonFiniteLossError,
        match=r'iteration 4 .*4 optimizer steps in a row '
        r'were skipped .*max_consecutive_skips=3',
    ):
        runner.train()
    assert _hook(runner).skipped_iters == [1, 2, 3, 4]
    assert _finite(runner) and _saved_checkpoints_are_finite(tmp_path)
    assert not runner.optim_wrapper.optimizer.state  # the optimizer never stepped


@pytest.mark.slow
def test_a_nan_gradient_with_a_finite_loss_stops_before_the_step(tmp_path, shapes_cls_root):
    runner = _runner(tmp_path, shapes_cls_root, config=BASELINE)
    param = _poison_gradient(runner, HEAD_WEIGHT, iterations={2})
    with pytest.raises(
        NonFiniteGradientError, match=rf'iteration 2 .*{HEAD_WEIGHT} \(grad norm nan\)'
    ) as error:
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
def test_an_infinite_total_norm_under_clipping_does_not_end_in_success(tmp_path, shapes_cls_root):
    """loss_weight=1e30: every gradient element is finite but their norm overflows,
    so clipping would scale every update to zero and the run would 'succeed'."""
    runner = _runner(
        tmp_path, shapes_cls_root, config=BASELINE, **{'model.head.loss.loss_weight': 1e30}
    )
    with pytest.raises(NonFiniteGradientError, match=r'iteration 1 .*grad norm'):
        runner.train()
    runner = _runner(
        tmp_path / 'skip',
        shapes_cls_root,
        config=BASELINE,
        hook=dict(action='skip'),
        **{'model.head.loss.loss_weight': 1e30},
    )
    with pytest.raises(NonFiniteGradientError, match=r'iteration 4 .*4 optimizer steps in a row'):
        runner.train()
    assert _saved_checkpoints_are_finite(tmp_path / 'skip')


@pytest.mark.slow
def test_exploding_learning_rate_never_reaches_a_checkpoint(tmp_path, shapes_cls_root):
    runner = _runner(
        tmp_path,
        shapes_cls_root,
        config=BASELINE,
        **{'optim_wrapper.optimizer.lr': 1e6, 'train_cfg.max_epochs': 4},
    )
    with pytest.raises((NonFiniteGradientError, NonFiniteLossError)):
        runner.train()
    assert _finite(runner)
    assert _saved_checkpoints_are_finite(tmp_path)


def test_a_checkpoint_with_a_nan_is_not_saved():
    hook = NonFiniteLossHook()
    hook._allowed_non_finite = {'attn_mask'}
    runner = type('R', (), {'iter': 6, 'epoch': 0})()
    good = {
        'state_dict': {'w': torch.ones(2), 'blocks.0.attn_mask': torch.tensor([-math.inf])},
        'optimizer': {'state': {0: {'exp_avg': torch.zeros(2)}}},
    }
    hook.before_save_checkpoint(runner, good)
    bad = dict(good, optimizer={'state': {0: {'exp_avg': torch.tensor([0.0, math.inf])}}})
    with pytest.raises(
        NonFiniteCheckpointError,
        match=r'iteration 7 .*optimizer\.state\.0\.'
        r'exp_avg\. The checkpoints already on disk',
    ):
        hook.before_save_checkpoint(runner, bad)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="'raise' or 'skip'"):
        NonFiniteLossHook(action='ignore')
    with pytest.raises(ValueError, match='max_consecutive_skips'):
        NonFiniteLossHook(max_consecutive_skips=-1)


class _TwoTerms(BaseModel):
    """A linear model whose loss has two terms; ``scale_b`` makes the second NaN/Inf."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 2)
        self.scale_b = 1.0

    def forward(self, inputs, mode='loss'):
        out = self.fc(inputs)
        return {'loss_a': out.pow(2).mean(), 'loss_b': out.abs().mean() * self.scale_b}


def _watched(hook, clip_grad=None):
    model = _TwoTerms()
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1), clip_grad=clip_grad)
    hook.watch(model, [wrapper])
    return model, wrapper


def _step(hook, model, wrapper, iteration):
    runner = type('R', (), {'iter': iteration - 1, 'epoch': 0})()
    hook.before_train_iter(runner, iteration - 1)
    model.train_step({'inputs': torch.ones(4, 3)}, wrapper)
    hook.after_train_iter(runner, iteration - 1)


def test_one_host_read_per_step_and_nothing_rebound(count_host_reads):
    hook = NonFiniteLossHook()
    model, wrapper = _watched(hook)
    before = (dict(vars(model)), dict(vars(wrapper)), dict(vars(wrapper.optimizer)))
    with count_host_reads() as counts:
        _step(hook, model, wrapper, 1)
    assert sum(counts.values()) == 1, counts
    for obj, attrs in zip((model, wrapper, wrapper.optimizer), before):
        assert not any(name in vars(obj) for name in ('parse_losses', 'update_params', 'step'))
    assert set(vars(model)) == set(before[0])


def test_a_nan_term_stops_before_the_step_naming_it():
    hook = NonFiniteLossHook()
    model, wrapper = _watched(hook)
    weight = model.fc.weight.detach().clone()
    model.scale_b = math.nan
    with pytest.raises(
        NonFiniteLossError,
        match=r'iteration 5 \(epoch 1\): loss_b=nan\. The '
        r'optimizer step was not taken',
    ):
        _step(hook, model, wrapper, 5)
    assert torch.equal(model.fc.weight, weight)


def test_clipping_norm_overflow_is_caught_before_clipping_hides_it():
    hook = NonFiniteLossHook()
    model, wrapper = _watched(hook, clip_grad=dict(max_norm=1.0))
    model.scale_b = 1e38  # finite terms, a gradient norm beyond float32
    with pytest.raises(
        NonFiniteGradientError, match=r'iteration 1 .* \(norms before clipping\): fc\.weight'
    ):
        _step(hook, model, wrapper, 1)


def test_after_train_the_hooks_are_removed():
    hook = NonFiniteLossHook()
    model, wrapper = _watched(hook)
    hook.after_train(None)
    model.scale_b = math.nan
    _step(hook, model, wrapper, 1)  # unchecked: the step is mmengine's own
    assert not torch.isfinite(model.fc.weight).all()


class _ScalerWrapper(OptimWrapper):
    """Stands in for AmpOptimWrapper (which needs a GPU to build): a loss scaler that
    skips the optimizer step when ``overflow`` is set, as GradScaler does on Inf."""

    def __init__(self, optimizer):
        super().__init__(optimizer)
        self.loss_scaler = object()
        self.overflow = False

    def step(self, **kwargs):
        if not self.overflow:
            self.optimizer.step(**kwargs)


def test_amp_loss_scaler_skips_are_bounded():
    hook = NonFiniteLossHook(max_consecutive_skips=2)
    model = _TwoTerms()
    wrapper = _ScalerWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    hook.watch(model, [wrapper])
    for iteration, overflows in enumerate([True, True, False, True, True], start=1):
        wrapper.overflow = overflows
        _step(hook, model, wrapper, iteration)
    assert hook.skipped_iters == [1, 2, 4, 5]  # never 3 in a row: the run goes on
    wrapper.overflow = True
    with pytest.raises(
        NonFiniteGradientError,
        match=r'skipped 3 steps in a row at iteration 6 '
        r'.*max_consecutive_skips=2',
    ):
        _step(hook, model, wrapper, 6)


def test_amp_names_a_nan_term_the_scaler_skipped():
    hook = NonFiniteLossHook()
    model = _TwoTerms()
    wrapper = _ScalerWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    hook.watch(model, [wrapper])
    model.scale_b, wrapper.overflow = math.inf, True
    with pytest.raises(NonFiniteLossError, match=r'iteration 1 .*loss_b=inf'):
        _step(hook, model, wrapper, 1)
