"""LossWeightWarmupHook."""

from types import SimpleNamespace

import pytest
from mmengine.logging import MessageHub
from mmengine.registry import DefaultScope
from mmpretrain.registry import HOOKS, MODELS

import mmdiverse  # noqa: F401
from mmdiverse.engine import LossWeightWarmupHook
from tests.helpers.configs import diversity_terms
from tests.helpers.tiny_classifier import classifier_cfg


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    """Build with mmpretrain's registries whatever scope other tests set."""
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


TERMS = diversity_terms()  # configs/pretrain/_base_/diversity.py


def fake_runner(model, name):
    return SimpleNamespace(
        model=model, iter=0, train_dataloader=[0] * 10, message_hub=MessageHub.get_instance(name)
    )


def test_warmup_hook_ramps_configured_terms():
    model = MODELS.build(classifier_cfg(TERMS))
    runner = fake_runner(model, 'warmup')
    hook = HOOKS.build(
        dict(type='LossWeightWarmupHook', warmup_epochs=0.5, terms=['patch_mix', 'attn_div'])
    )
    hook.before_train(runner)
    assert hook.warmup_iters == 5
    for it, expected in [(0, 0.0), (2, 0.4), (5, 1.0), (9, 1.0)]:
        runner.iter = it
        hook.before_train_iter(runner, it)
        scales = model.diversity.term_scales
        assert scales['patch_mix'] == pytest.approx(expected)
        assert scales['attn_div'] == pytest.approx(expected)
        assert scales['patch_cos'] == 1.0
    assert runner.message_hub.get_scalar('train/diversity_scale').current() == 1.0


def test_warmup_hook_errors():
    with pytest.raises(ValueError, match='exactly one'):
        LossWeightWarmupHook()
    model = MODELS.build(classifier_cfg(dict(patch_cos=TERMS['patch_cos'])))
    hook = LossWeightWarmupHook(warmup_iters=3, terms='patch_mix')
    with pytest.raises(KeyError, match='patch_mix'):
        hook.before_train(fake_runner(model, 'warmup-err'))
    plain = MODELS.build(classifier_cfg(None))
    with pytest.raises(ValueError, match='no diversity'):
        LossWeightWarmupHook(warmup_iters=3).before_train(fake_runner(plain, 'warmup-err2'))
