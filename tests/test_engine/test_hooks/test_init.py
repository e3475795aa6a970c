"""Every mmdiverse hook is found by its plain name from mmpretrain and mmseg configs.

mmengine searches a registry and its parents, never its siblings: the hooks
live in mmengine's root ``HOOKS``, the parent of both toolboxes' registries.
"""

import pytest
from mmengine.runner import Runner

import mmdiverse  # noqa: F401
from mmdiverse.engine import hooks as mmdiverse_hooks

HOOKS = [
    dict(type='PatchSimilarityHook'),
    dict(type='LossWeightWarmupHook', warmup_iters=2),
    dict(type='ExportMetaHook'),
    dict(type='NonFiniteLossHook'),
    dict(type='RandomStateHook'),
    dict(type='ClassConsistencyHook'),
    dict(type='SafeCheckpointHook'),
    dict(type='ValidationResumeHook'),
]
VIT = dict(
    type='mmpretrain.VisionTransformer',
    arch=dict(embed_dims=16, num_layers=1, num_heads=2, feedforward_channels=16),
    img_size=16,
    patch_size=8,
)
MODELS = {
    'mmpretrain': dict(
        type='ImageClassifier',
        backbone=VIT,
        head=dict(type='VisionTransformerClsHead', num_classes=2, in_channels=16),
    ),
    'mmseg': dict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor'),
        backbone=dict(VIT, out_type='featmap'),
        decode_head=dict(type='FCNHead', in_channels=16, channels=8, num_convs=1, num_classes=2),
    ),
}


def test_the_list_covers_every_hook_of_the_package():
    exported = {name for name in mmdiverse_hooks.__all__ if name.endswith('Hook')}
    assert exported == {hook['type'] for hook in HOOKS}


@pytest.mark.parametrize('scope', ['mmpretrain', 'mmseg'])
def test_a_runner_of_either_toolbox_builds_every_hook_by_name(tmp_path, scope):
    runner = Runner(
        model=MODELS[scope],
        work_dir=str(tmp_path),
        default_scope=scope,
        custom_hooks=HOOKS,
        env_cfg=dict(dist_cfg=dict(backend='gloo')),
    )
    built = {type(hook).__name__: hook for hook in runner.hooks}
    for hook in HOOKS:
        assert type(built[hook['type']]).__module__.startswith('mmdiverse.engine.hooks'), hook
