"""A misspelled hook argument stops tools/train.py -- ours and mmpretrain's / mmseg's stock
ones, which build the configs' runner_type -- before anything is built, naming the key."""

import os.path as osp
import re

import pytest

from tests.helpers.tools import data_root_options, run_tool


def _stock_tool(package):
    module = __import__(package)
    return osp.join(osp.dirname(module.__file__), '.mim', 'tools', 'train.py')


@pytest.mark.slow
@pytest.mark.parametrize(
    'tool,config',
    [
        ('tools/train.py', 'configs/demo/vit_tiny_shapes.py'),
        ('mmpretrain', 'configs/demo/vit_tiny_shapes.py'),
        ('mmseg', 'configs/demo/upernet_vit_tiny_shapes.py'),
    ],
)
def test_a_misspelled_checkpoint_option_stops_the_run_naming_the_key(
    tmp_path, tool, config, shapes_cls_root
):
    tool = tool if tool.endswith('.py') else _stock_tool(tool)
    work_dir = str(tmp_path / 'run')
    result = run_tool(
        tool,
        config,
        '--work-dir',
        work_dir,
        '--cfg-options',
        *data_root_options(shapes_cls_root),
        'default_hooks.checkpoint.intervall=2',
        check=False,
    )
    assert result.returncode != 0
    assert re.search(
        r'UnknownHookArgumentError: default_hooks\.checkpoint\.intervall: '
        r"\w*CheckpointHook takes no argument 'intervall'",
        result.stderr,
    )
    assert "did you mean 'interval'?" in result.stderr
    assert 'Iter(train)' not in result.stdout + result.stderr
