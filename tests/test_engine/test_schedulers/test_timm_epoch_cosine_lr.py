"""TimmEpochCosineLR gives, epoch by epoch, the lr that DeiT's / Diverse-ViT's
main.py trains with: timm's CosineLRScheduler stepped with step(epoch) after
each epoch."""

import pytest
import torch
from timm.scheduler import CosineLRScheduler

from mmdiverse.engine.schedulers import TimmEpochCosineLR


def _optimizer(lr=1e-3):
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def deit_main_lrs(epochs, lr=1e-3, min_lr=1e-5, warmup_lr=1e-6, warmup_epochs=5):
    """The lr of each epoch in DeiT's main.py loop (train, then lr_scheduler.step(epoch))."""
    optimizer = _optimizer(lr)
    scheduler = CosineLRScheduler(
        optimizer,
        t_initial=epochs,
        lr_min=min_lr,
        warmup_lr_init=warmup_lr,
        warmup_t=warmup_epochs,
        cycle_limit=1,
        t_in_epochs=True,
    )
    lrs = []
    for epoch in range(epochs):
        lrs.append(optimizer.param_groups[0]['lr'])  # train_one_epoch runs at this lr
        scheduler.step(epoch)
    return lrs


@pytest.mark.parametrize('epochs,warmup,lr', [(300, 5, 1e-3), (20, 3, 2e-3)])
def test_every_epoch_runs_at_the_lr_of_deits_main_loop(epochs, warmup, lr):
    optimizer = _optimizer(lr)
    scheduler = TimmEpochCosineLR(
        optimizer,
        t_initial=epochs,
        lr_min=1e-5,
        warmup_lr_init=1e-6,
        warmup_t=warmup,
        begin=0,
        end=epochs,
    )
    ours = []
    for _ in range(epochs):
        ours.append(optimizer.param_groups[0]['lr'])
        optimizer.step()
        scheduler.step()
    expected = deit_main_lrs(epochs, lr=lr, warmup_epochs=warmup)
    assert ours == pytest.approx(expected, rel=1e-12, abs=0)
    assert ours[0] == ours[1] == pytest.approx(1e-6)  # the one-epoch lag


def test_mmengines_pair_is_not_that_schedule():
    """The project's LinearLR + CosineAnnealingLR (per iteration, cosine from
    the end of the warm-up) differs: why the faithful configs use this one."""
    from mmengine.optim.scheduler import CosineAnnealingLR, LinearLR

    optimizer = _optimizer()
    warm = LinearLR(optimizer, start_factor=1e-3, begin=0, end=5)
    cos = CosineAnnealingLR(optimizer, eta_min=1e-5, begin=5, end=300, T_max=295)
    stock = []
    for _ in range(300):
        stock.append(optimizer.param_groups[0]['lr'])
        optimizer.step()
        warm.step()
        cos.step()
    expected = deit_main_lrs(300)
    worst = max(abs(a - b) / b for a, b in zip(stock[6:280], expected[6:280]))
    assert worst > 0.01


@pytest.mark.parametrize(
    'kwargs,match',
    [
        (dict(t_initial=10, by_epoch=False), 'by_epoch'),
        (dict(t_initial=10, warmup_t=10), 'warmup_t'),
        (dict(t_initial=0), 't_initial'),
    ],
)
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TimmEpochCosineLR(_optimizer(), **kwargs)
