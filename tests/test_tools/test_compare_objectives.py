"""tools/analysis/compare_objectives.py on the tiny demo configs (in-process)."""

import importlib.util
import json
import os.path as osp

import pytest

from tests.helpers.tools import REPO_ROOT

TOOL = osp.join(REPO_ROOT, 'tools', 'analysis', 'compare_objectives.py')
DIVERSE = osp.join(REPO_ROOT, 'configs', 'demo', 'vit_tiny_shapes_diverse.py')
BASELINE = osp.join(REPO_ROOT, 'configs', 'demo', 'vit_tiny_shapes.py')


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('compare_objectives', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_same_config_twice_gives_the_same_step(tool, tmp_path):
    out = tmp_path / 'objectives.json'
    result = tool.main(
        [
            DIVERSE,
            DIVERSE,
            '--labels',
            'a',
            'b',
            '--batch-size',
            '4',
            '--augment',
            'cutmix',
            '--lam',
            '0.6',
            '--out',
            str(out),
        ]
    )
    assert result['terms']['a'] == result['terms']['b']
    assert result['totals']['a'] == result['totals']['b']
    assert result['gradients']['rel_diff'] == 0 and result['gradients']['grad_norm_a'] > 0
    # the total is what the optimizer sees: the sum of the loss* keys
    terms = result['terms']['a']
    assert result['totals']['a'] == pytest.approx(
        sum(v for k, v in terms.items() if 'loss' in k), rel=1e-6
    )
    assert json.loads(out.read_text())['totals'] == result['totals']


def test_diverse_against_baseline_unmixed(tool, capsys):
    result = tool.main(
        [
            DIVERSE,
            BASELINE,
            '--labels',
            'diverse',
            'baseline',
            '--batch-size',
            '4',
            '--augment',
            'none',
        ]
    )
    diverse, baseline = result['terms']['diverse'], result['terms']['baseline']
    # same weights, same unmixed batch: the same class-token CE ...
    assert diverse['loss_cls'] == pytest.approx(baseline['loss'], rel=1e-6)
    # ... and the regularizers on top of it
    assert {'loss_patch_cos', 'loss_patch_mix', 'loss_weight_cond'} <= set(diverse)
    assert result['totals']['diverse'] > result['totals']['baseline']
    assert 0 < result['gradients']['rel_diff']
    printed = capsys.readouterr().out
    assert 'total (optimized)' in printed and 'loss_patch_mix' in printed


def test_missing_augment_is_named(tool):
    with pytest.raises(ValueError, match=r'--augment mixup: .*\[\'PatchCutMix\'\]'):
        tool.main([DIVERSE, DIVERSE, '--augment', 'mixup', '--batch-size', '2'])
