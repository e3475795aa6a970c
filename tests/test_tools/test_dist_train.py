"""Launch tools: a 2-process CPU (gloo) run of tools/dist_train.sh with every
regularizer on, its checkpoints and transfer export, tools/dist_test.sh on
the result, and the command lines of the SLURM scripts."""

import os
import os.path as osp
import shlex
import socket
import subprocess

import pytest
import torch

from mmdiverse.checkpoint import safe_load
from tests.helpers.tools import REPO_ROOT, data_root_options

DEMO = osp.join(REPO_ROOT, 'configs', 'demo', 'vit_tiny_shapes_diverse.py')
ALL_TERMS = sorted(
    ['patch_cos', 'patch_contrast', 'patch_mix', 'attn_div', 'weight_cond']
)  # as the metadata lists them


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def run_script(script, *args, env=None, timeout=600):
    full_env = dict(os.environ, PYTHONPATH=REPO_ROOT, **(env or {}))
    result = subprocess.run(
        ['bash', osp.join(REPO_ROOT, 'tools', script), *args],
        cwd=REPO_ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise AssertionError(
            f'{script} {args} failed ({result.returncode}):\n'
            f'{result.stdout[-4000:]}\n{result.stderr[-6000:]}'
        )
    return result


def diverse_demo_config(tmp_path):
    """The tiny diverse demo, plus the export hook that the pretrain configs use."""
    assert osp.isfile(DEMO), 'configs/demo/vit_tiny_shapes_diverse.py is needed'
    path = tmp_path / 'demo_diverse_export.py'
    with open(path, 'w') as f:
        f.write(
            f"_base_ = ['{DEMO}']\ndefault_hooks = dict(export_meta=dict(type='ExportMetaHook'))\n"
        )
    return str(path)


@pytest.fixture(scope='module')
def dist_run(tmp_path_factory, shapes_cls_root):
    tmp_path = tmp_path_factory.mktemp('dist_train')
    config = diverse_demo_config(tmp_path)
    work_dir = str(tmp_path / 'work')
    result = run_script(
        'dist_train.sh',
        config,
        '2',
        '--work-dir',
        work_dir,
        '--cfg-options',
        *data_root_options(shapes_cls_root),
        'train_dataloader.batch_size=4',
        'train_cfg.max_epochs=2',
        'default_hooks.logger.interval=1',
        env=dict(PORT=str(free_port()), OMP_NUM_THREADS='1'),
    )
    return config, work_dir, result.stdout + result.stderr


@pytest.mark.slow
def test_two_process_cpu_training_with_all_regularizers(dist_run):
    config, work_dir, log = dist_run
    assert 'Distributed launcher: pytorch' in log
    assert 'Distributed training: True' in log
    assert 'GPU number: 2' in log
    for term in ALL_TERMS:
        assert f'loss_{term}: ' in log, term

    ckpt = safe_load(osp.join(work_dir, 'epoch_2.pth'))
    # 32 images / (2 processes x 4) = 4 iterations per epoch
    assert ckpt['meta']['epoch'] == 2 and ckpt['meta']['iter'] == 8
    meta = ckpt['meta']['mmdiverse']
    assert meta['regularizers'] == ALL_TERMS
    assert (meta['backbone'], meta['img_size'], meta['patch_size'], meta['window_size']) == (
        'VisionTransformer',
        32,
        4,
        None,
    )
    assert meta['arch_settings']['num_layers'] == 4

    # the checkpoint loads into the model its config builds, every key matching
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    cfg = Config.fromfile(config)
    init_default_scope('mmpretrain')
    model = MODELS.build(cfg.model)
    result = model.load_state_dict(ckpt['state_dict'], strict=True)
    assert not result.missing_keys and not result.unexpected_keys


@pytest.mark.slow
def test_final_export_loads_as_a_backbone(dist_run):
    config, work_dir, log = dist_run
    export = osp.join(work_dir, 'backbone_export.pth')
    assert 'Exported the backbone of' in log
    exported = safe_load(export)
    ckpt = safe_load(osp.join(work_dir, 'epoch_2.pth'))
    assert exported['meta']['mmdiverse']['regularizers'] == ALL_TERMS
    weights = exported['state_dict']
    assert weights and all(k.startswith(('backbone.', 'head.')) for k in weights)
    for key, value in weights.items():
        assert torch.equal(value, ckpt['state_dict'][key]), key

    from mmpretrain.registry import MODELS

    backbone = MODELS.build(
        dict(
            type='VisionTransformer',
            img_size=32,
            patch_size=4,
            out_type='featmap',
            arch=dict(embed_dims=64, num_layers=4, num_heads=4, feedforward_channels=128),
            init_cfg=dict(type='Pretrained', checkpoint=export, prefix='backbone.'),
        )
    )
    backbone.init_weights()
    for key, value in backbone.state_dict().items():
        assert torch.equal(value, weights['backbone.' + key]), key


@pytest.mark.slow
def test_two_process_cpu_evaluation(dist_run, shapes_cls_root):
    config, work_dir, _ = dist_run
    result = run_script(
        'dist_test.sh',
        config,
        osp.join(work_dir, 'epoch_2.pth'),
        '2',
        '--work-dir',
        osp.join(work_dir, 'test'),
        '--cfg-options',
        *data_root_options(shapes_cls_root),
        env=dict(PORT=str(free_port()), OMP_NUM_THREADS='1'),
    )
    log = result.stdout + result.stderr
    assert 'GPU number: 2' in log
    assert 'accuracy/top1:' in log


# ---------------------------------------------------------------------- SLURM
@pytest.fixture
def fake_srun(tmp_path):
    """An ``srun`` on PATH that records its arguments instead of launching."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    record = tmp_path / 'srun_args'
    srun = bin_dir / 'srun'
    srun.write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "$@" > {shlex.quote(str(record))}\n')
    srun.chmod(0o755)
    env = dict(PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}', PYTHON='python-x')
    return env, record


def test_slurm_train_command_line(fake_srun):
    env, record = fake_srun
    run_script(
        'slurm_train.sh',
        'gpu',
        'swin_l',
        'configs/pretrain/swin_l_diverse.py',
        'work_dirs/swin_l',
        '--amp',
        '--cfg-options',
        'a=1',
        env=dict(env, GPUS='16', SRUN_ARGS='--quotatype=auto --time=3-0'),
    )
    args = record.read_text().splitlines()
    assert args[:2] == ['-p', 'gpu']
    for option in (
        '--job-name=swin_l',
        '--gres=gpu:8',
        '--ntasks=16',
        '--ntasks-per-node=8',
        '--cpus-per-task=5',
        '--kill-on-bad-exit=1',
        '--quotatype=auto',
        '--time=3-0',
    ):
        assert option in args, option
    command = args[args.index('python-x') :]
    assert command == [
        'python-x',
        '-u',
        osp.join(REPO_ROOT, 'tools', 'train.py'),
        'configs/pretrain/swin_l_diverse.py',
        '--work-dir',
        'work_dirs/swin_l',
        '--launcher',
        'slurm',
        '--amp',
        '--cfg-options',
        'a=1',
    ]


def test_slurm_test_command_line(fake_srun):
    env, record = fake_srun
    run_script(
        'slurm_test.sh',
        'gpu',
        'eval',
        'configs/pretrain/deit_s24_diverse.py',
        'epoch_300.pth',
        '--out',
        'preds.pkl',
        env=dict(env, GPUS='4'),
    )
    args = record.read_text().splitlines()
    assert '--ntasks=4' in args and '--ntasks-per-node=4' in args and '--gres=gpu:4' in args
    command = args[args.index('python-x') :]
    assert command == [
        'python-x',
        '-u',
        osp.join(REPO_ROOT, 'tools', 'test.py'),
        'configs/pretrain/deit_s24_diverse.py',
        'epoch_300.pth',
        '--launcher',
        'slurm',
        '--out',
        'preds.pkl',
    ]
