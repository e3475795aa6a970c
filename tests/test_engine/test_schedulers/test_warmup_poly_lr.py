"""WarmupPolyLR: mmcv 1.x poly + linear warm-up, and a resumed run follows the
schedule of the config it is resumed with (mmengine restores the old one)."""

import copy
import os.path as osp

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.registry import PARAM_SCHEDULERS
from mmengine.runner import Runner

import mmdiverse.runtime  # noqa: F401  (opts in: --resume reads mmengine's HistoryBuffer safely)
from mmdiverse.engine.schedulers import WarmupPolyLR

BASE_LR = 0.5


def mmcv_poly_lr(t, total, base=BASE_LR, power=1.0, min_lr=0.0, warmup_iters=0, ratio=0.1):
    """mmcv 1.x PolyLrUpdaterHook.get_lr + LrUpdaterHook.get_warmup_lr('linear')."""
    regular = (base - min_lr) * (1 - t / total) ** power + min_lr
    if warmup_iters and t < warmup_iters:
        k = (1 - t / warmup_iters) * (1 - ratio)
        return regular * (1 - k)
    return regular


def _optimizer(groups=1):
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in range(groups)]
    return torch.optim.SGD(
        [{'params': [p], 'lr': BASE_LR * (i + 1)} for i, p in enumerate(params)], lr=BASE_LR
    )


@pytest.mark.parametrize(
    'power,warmup_iters,eta_min', [(1.0, 4, 0.0), (0.9, 0, 1e-3), (2.0, 3, 0.01)]
)
def test_every_step_is_mmcv_poly_with_linear_warmup(power, warmup_iters, eta_min):
    optimizer = _optimizer(groups=2)
    scheduler = WarmupPolyLR(
        optimizer,
        power=power,
        eta_min=eta_min,
        warmup_iters=warmup_iters,
        warmup_ratio=1e-3,
        begin=0,
        end=12,
    )
    for t in range(12):
        for i, group in enumerate(optimizer.param_groups):
            expected = mmcv_poly_lr(
                t,
                12,
                base=BASE_LR * (i + 1),
                power=power,
                min_lr=eta_min,
                warmup_iters=warmup_iters,
                ratio=1e-3,
            )
            assert group['lr'] == pytest.approx(expected, rel=1e-12), (t, i)
        optimizer.step()
        scheduler.step()


def test_state_holds_the_step_count_only_and_loading_applies_the_new_schedule():
    old_opt = _optimizer()
    old = WarmupPolyLR(old_opt, warmup_iters=2, warmup_ratio=1e-6, end=8)
    for _ in range(8):
        old_opt.step()
        old.step()
    state = old.state_dict()
    assert state == {'_global_step': 8, 'last_step': 7}
    new_opt = _optimizer()
    new = WarmupPolyLR(new_opt, warmup_iters=2, warmup_ratio=1e-6, end=10)
    new.load_state_dict(copy.deepcopy(state))
    assert (new.end, new.last_step) == (10, 8)
    assert new_opt.param_groups[0]['lr'] == pytest.approx(mmcv_poly_lr(8, 10))


def test_a_stock_scheduler_state_is_read_by_its_step_count():
    """A checkpoint of the stock LinearLR + PolyLR pair resumes by its step count."""
    stock = {'_global_step': 6, 'last_step': 3, 'begin': 0, 'end': 4, 'start_factor': 1e-6}
    optimizer = _optimizer()
    scheduler = WarmupPolyLR(optimizer, end=10)
    scheduler.load_state_dict(stock)
    assert scheduler.last_step == 6 and scheduler.end == 10
    assert optimizer.param_groups[0]['lr'] == pytest.approx(mmcv_poly_lr(6, 10))
    with pytest.raises(KeyError, match='_global_step'):
        scheduler.load_state_dict({'last_step': 3})


@pytest.mark.parametrize(
    'kwargs,match',
    [
        (dict(), 'end must be a finite'),
        (dict(end=5, warmup_iters=5), 'warmup_iters'),
        (dict(end=5, warmup_ratio=0.0), 'warmup_ratio'),
    ],
)
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        WarmupPolyLR(_optimizer(), **kwargs)


@pytest.mark.parametrize('scope', ['mmseg', 'mmpretrain'])
def test_configs_of_mmseg_and_mmpretrain_build_it_by_name(scope):
    import mmpretrain.registry  # noqa: F401
    import mmseg.registry  # noqa: F401
    from mmengine.registry import DefaultScope

    with DefaultScope.overwrite_default_scope(scope):
        scheduler = PARAM_SCHEDULERS.build(
            dict(type='WarmupPolyLR', end=4), default_args=dict(optimizer=_optimizer())
        )
    assert type(scheduler) is WarmupPolyLR


class _Linear(BaseModel):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, inputs, mode='loss'):
        return dict(loss=self.linear(inputs).pow(2).mean())


class _LrRecorder(Hook):
    """Records the lr each training iteration runs with."""

    def __init__(self, log):
        self.log = log

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.log[runner.iter] = runner.optim_wrapper.get_lr()['lr'][0]


def _run(work_dir, max_iters, schedulers, log, resume_from=None):
    data = [dict(inputs=torch.ones(2)) for _ in range(4)]
    runner = Runner(
        model=_Linear(),
        work_dir=work_dir,
        train_dataloader=dict(
            dataset=data,
            sampler=dict(type='InfiniteSampler', shuffle=False),
            batch_size=1,
            collate_fn=dict(type='default_collate'),
        ),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=BASE_LR)),
        param_scheduler=schedulers,
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters),
            logger=dict(type='LoggerHook', interval=100),
        ),
        custom_hooks=[_LrRecorder(log)],
        load_from=resume_from,
        resume=resume_from is not None,
        default_scope='mmengine',
        experiment_name=f'run{max_iters}_{len(log)}',
    )
    runner.train()
    return osp.join(work_dir, f'iter_{max_iters}.pth')


def _schedule(kind, end):
    if kind == 'WarmupPolyLR':
        return [
            dict(
                type='WarmupPolyLR',
                warmup_iters=3,
                warmup_ratio=1e-6,
                power=1.0,
                eta_min=0.0,
                begin=0,
                end=end,
                by_epoch=False,
            )
        ]
    return [
        dict(type='LinearLR', start_factor=1e-6, begin=0, end=3, by_epoch=False),
        dict(type='PolyLR', power=1.0, eta_min=0.0, begin=3, end=end, by_epoch=False),
    ]


def test_resuming_a_short_run_with_a_longer_schedule_follows_poly_over_the_new_length(tmp_path):
    """8 iterations, then the same run resumed with max_iters 10: iterations 8
    and 9 run at poly over 10 (what mmcv's --resume-from gave the fork)."""
    first, resumed = {}, {}
    ckpt = _run(str(tmp_path), 8, _schedule('WarmupPolyLR', 8), first)
    assert [first[t] for t in range(8)] == pytest.approx(
        [mmcv_poly_lr(t, 8, warmup_iters=3, ratio=1e-6) for t in range(8)], rel=1e-9
    )
    _run(str(tmp_path), 10, _schedule('WarmupPolyLR', 10), resumed, resume_from=ckpt)
    assert sorted(resumed) == [8, 9]
    assert [resumed[8], resumed[9]] == pytest.approx(
        [mmcv_poly_lr(8, 10), mmcv_poly_lr(9, 10)], rel=1e-9
    )


def test_negative_control_mmengine_polylr_keeps_the_old_schedule_on_resume(tmp_path):
    """Without WarmupPolyLR, the stock pair resumes the restored (finished)
    schedule: the lr of iteration 8 is not poly over 10."""
    first, resumed = {}, {}
    ckpt = _run(str(tmp_path), 8, _schedule('stock', 8), first)
    _run(str(tmp_path), 10, _schedule('stock', 10), resumed, resume_from=ckpt)
    assert resumed[8] != pytest.approx(mmcv_poly_lr(8, 10), rel=1e-3)
