"""Importing mmdiverse registers its modules and changes nothing else; ``mmdiverse.runtime``
installs the opt-in hardening (issue 20.1)."""

import json
import subprocess
import sys

import pytest
from mmengine.config import Config

from tests.helpers.tools import REPO_ROOT

#: Run in a fresh interpreter, so the result does not depend on what earlier tests imported:
#: the identity of every object mmdiverse could replace, before and after each import.
_SNAPSHOTS = r"""
import json, sys
import torch
import mmengine.hooks.checkpoint_hook as checkpoint_hook
import mmengine.runner, mmengine.runner.checkpoint as runner_checkpoint
from mmengine.fileio import get_file_backend
from mmengine.fileio.backends import registry_utils
from mmengine.hooks import CheckpointHook
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmengine.runner.checkpoint import CheckpointLoader
import mmpretrain.models.utils, mmpretrain.models.utils.embed
import mmpretrain.models.backbones.swin_transformer, mmpretrain.models.backbones.beit
import mmseg.models

def objects():
    found = {'torch.load': torch.load, 'torch.save': torch.save}
    found.update({f'CheckpointLoader[{p!r}]': f for p, f in CheckpointLoader._schemes.items()})
    found.update({f'backends[{n!r}]': b for n, b in registry_utils.backends.items()})
    found.update({f'prefix_to_backends[{n!r}]': b
                  for n, b in registry_utils.prefix_to_backends.items()})
    for module in (checkpoint_hook, runner_checkpoint, mmengine.runner):
        found.update({f'{module.__name__}.{k}': v for k, v in vars(module).items()
                      if not k.startswith('__')})
    for cls in (CheckpointHook, OptimWrapper, AmpOptimWrapper, torch.nn.Module,
                torch.optim.Optimizer):
        found.update({f'{cls.__name__}.{k}': v for k, v in vars(cls).items()})
    for module in (mmpretrain.models.utils, mmpretrain.models.utils.embed,
                   mmpretrain.models.backbones.swin_transformer,
                   mmpretrain.models.backbones.beit):
        found[f'{module.__name__}.resize_relative_position_bias_table'] = \
            module.resize_relative_position_bias_table
    found['local backend'] = type(get_file_backend('/tmp/x.pth'))
    return found

def changed(before):
    after = objects()
    return sorted(k for k in set(before) | set(after) if before.get(k) is not after.get(k))

before = objects()
import mmdiverse
after_import = changed(before)
import mmdiverse.runtime
from mmdiverse.compat import needs_bias_table_fix
print(json.dumps(dict(after_import=after_import, after_runtime=changed(before),
                      loaders={p: f'{f.__module__}.{f.__name__}'
                               for p, f in CheckpointLoader._schemes.items()},
                      local_backend=type(get_file_backend('/tmp/x.pth')).__name__,
                      resize=mmpretrain.models.backbones.swin_transformer
                      .resize_relative_position_bias_table.__module__,
                      bias_fix=needs_bias_table_fix())))
"""


@pytest.fixture(scope='module')
def snapshots():
    result = subprocess.run(
        [sys.executable, '-c', _SNAPSHOTS],
        cwd=REPO_ROOT,
        timeout=300,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_import_changes_no_object_of_mmengine_mmpretrain_mmseg_or_torch(snapshots):
    """Checkpoint loaders, file backends, the checkpoint-hook module, mmpretrain's
    bias-table resize and torch.load are the very objects they were before."""
    assert snapshots['after_import'] == []


def test_the_runtime_opt_in_installs_what_it_promises(snapshots):
    loaders = snapshots['loaders']
    assert loaders[''] == 'mmdiverse.checkpoint.safe_loading.load_from_local'
    assert (
        loaders['http://']
        == loaders['https://']
        == 'mmdiverse.checkpoint.safe_loading.load_from_http'
    )
    assert snapshots['local_backend'] == 'AtomicLocalBackend'
    expected = {
        "CheckpointLoader['']",
        "CheckpointLoader['http://']",
        "CheckpointLoader['https://']",
        "backends['local']",
        "prefix_to_backends['']",
        'local backend',
    }
    if snapshots['bias_fix']:
        assert snapshots['resize'] == 'mmdiverse.compat.mmpretrain_bias_table'
        expected |= {
            f'{m}.resize_relative_position_bias_table'
            for m in (
                'mmpretrain.models.utils',
                'mmpretrain.models.utils.embed',
                'mmpretrain.models.backbones.swin_transformer',
                'mmpretrain.models.backbones.beit',
            )
        }
    assert set(snapshots['after_runtime']) == expected  # and nothing else


def test_import_registers_into_mmpretrain_and_mmseg():
    from mmengine.registry import HOOKS
    from mmpretrain.registry import BATCH_AUGMENTS
    from mmpretrain.registry import MODELS as PRETRAIN_MODELS
    from mmseg.registry import MODELS as SEG_MODELS

    import mmdiverse  # noqa: F401

    for name in (
        'PatchCosineLoss',
        'PatchContrastiveLoss',
        'PatchMixingLoss',
        'AttentionDiversityLoss',
        'WeightConditionLoss',
        'DiverseImageClassifier',
    ):
        assert PRETRAIN_MODELS.get(name) is not None, name
    assert BATCH_AUGMENTS.get('PatchCutMix') is not None
    for name in ('DiverseEncoderDecoder', 'TransferEncoderDecoder'):
        assert SEG_MODELS.get(name) is not None, name
    for name in ('SafeCheckpointHook', 'NonFiniteLossHook', 'RandomStateHook'):
        assert HOOKS.get(name) is not None, name


def test_custom_imports_in_a_config_is_enough(tmp_path):
    config = tmp_path / 'cfg.py'
    config.write_text(
        "custom_imports = dict(imports=['mmdiverse'], allow_failed_imports=False)\n"
        "model = dict(type='PatchCosineLoss', loss_weight=0.5)\n"
    )
    cfg = Config.fromfile(str(config))
    from mmpretrain.registry import MODELS

    loss = MODELS.build(cfg.model)
    assert type(loss).__name__ == 'PatchCosineLoss' and loss.loss_weight == 0.5
