"""The stand-in for ``mmcv._ext`` (mmdiverse/compat/mmcv_ext_standin.py)."""

import importlib.metadata
import os.path as osp
import re
import subprocess
import sys
import textwrap

import pytest
import torch

from mmdiverse.compat import mmcv_ext_standin
from tests.helpers.fast_init import skip_random_init
from tests.helpers.tools import REPO_ROOT


def _installed(distribution):
    try:
        importlib.metadata.version(distribution)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


LITE = _installed('mmcv-lite') and not _installed('mmcv')
lite_only = pytest.mark.skipif(not LITE, reason='the compiled mmcv is installed (full mode)')


def _python(code, *, cwd=REPO_ROOT, env_path=None):
    env = None
    if env_path is not None:
        import os

        env = dict(os.environ, PYTHONPATH=env_path)
    return subprocess.run(
        [sys.executable, '-c', textwrap.dedent(code)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@lite_only
def test_a_compiled_op_raises_naming_the_op_and_the_build_command():
    from mmcv.ops import nms

    boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
    with pytest.raises(mmcv_ext_standin.CompiledOpUnavailableError) as info:
        nms(boxes, torch.tensor([0.9, 0.8]), 0.5)
    message = str(info.value)
    assert "'nms'" in message
    assert mmcv_ext_standin.BUILD_COMMAND in message


@lite_only
def test_the_imported_extension_is_the_standin_and_answers_every_op_name():
    import mmcv._ext as ext

    assert mmcv_ext_standin.is_standin(ext)
    # mmcv's ext_loader asserts hasattr(ext, op) for every op it loads.
    assert hasattr(ext, 'roi_align_forward') and callable(ext.roi_align_forward)
    assert not hasattr(ext, '__wrapped__')  # dunder look-ups are not ops


@lite_only
def test_a_bare_interpreter_imports_mmseg_models():
    """The .pth written by the lite set-up installs the finder at start-up:
    no mmdiverse import comes before mmseg's here (cwd outside the repo)."""
    result = _python(
        """
        import sys
        import mmseg.models
        assert 'mmdiverse' not in sys.modules, 'mmdiverse was imported'
        import mmcv._ext
        print(type(mmcv._ext).__name__)
    """,
        cwd=osp.dirname(REPO_ROOT),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert '_StandInExtension' in result.stdout


#: Loads the stand-in by file (as the lite set-up's .pth does) without importing
#: mmdiverse, whose import chain would import the real mmcv.
LOAD_STANDIN = f"""
import importlib.util
spec = importlib.util.spec_from_file_location(
    'standin', {osp.join(REPO_ROOT, 'mmdiverse', 'compat', 'mmcv_ext_standin.py')!r})
mmcv_ext_standin = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mmcv_ext_standin)
mmcv_ext_standin.install()
"""


def _fake_mmcv(root, with_extension):
    package = root / 'mmcv'
    package.mkdir()
    (package / '__init__.py').write_text('')
    if with_extension:
        (package / '_ext.py').write_text('REAL = True\n')
    return LOAD_STANDIN + f'import sys; sys.path.insert(0, {str(root)!r})\nimport mmcv._ext\n'


def test_a_real_compiled_extension_is_left_alone(tmp_path):
    """Where a real ``mmcv._ext`` exists, the regular finders find it first."""
    result = _python(
        _fake_mmcv(tmp_path, with_extension=True)
        + 'assert mmcv._ext.REAL and not mmcv_ext_standin.is_standin(mmcv._ext)\n'
        "print('real')"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == 'real'


def test_without_a_real_extension_the_standin_is_found(tmp_path):
    result = _python(
        _fake_mmcv(tmp_path, with_extension=False)
        + "assert mmcv_ext_standin.is_standin(mmcv._ext)\nprint('standin')"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == 'standin'


def test_install_is_idempotent():
    before = list(sys.meta_path)
    mmcv_ext_standin.install()
    mmcv_ext_standin.install()
    added = [f for f in sys.meta_path if f not in before]
    assert not added  # importing mmdiverse installed it already
    assert sum(type(f).__name__ == 'MMCVExtStandInFinder' for f in sys.meta_path) == 1


def test_the_finder_answers_only_for_the_extension():
    finder = mmcv_ext_standin.MMCVExtStandInFinder()
    assert finder.find_spec('mmcv.ops') is None
    assert finder.find_spec('mmcv') is None
    assert finder.find_spec('mmcv._ext') is not None


# ----------------------------------------------------------------- the lite install, end to end
#: The masked-image-modelling configs and their transfers (``*mae*``, ``*simmim*``) take batches
#: of their own format (masks, 192/224 px): tests/test_configs/test_selfsup_configs.py trains
#: each of them one step in the lite install.
CONFIGS = sorted(
    p
    for p in __import__('glob').glob(osp.join(REPO_ROOT, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p and not any(k in osp.basename(p) for k in ('mae_', 'simmim_'))
)


def _cheap_init(model):
    """Fill the parameters left unset by ``skip_random_init`` (norms 1/0, the rest small
    Gaussians): seconds cheaper per full-size model than the recipes' truncated normals."""
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if isinstance(
                module,
                (torch.nn.LayerNorm, torch.nn.GroupNorm, torch.nn.modules.batchnorm._BatchNorm),
            ):
                param.data.fill_(1.0 if name == 'weight' else 0.0)
            elif param.dim() > 1:
                param.data.normal_(0.0, 0.02)
            else:
                param.data.zero_()


def _one_training_step(config_path, narrow_model):
    """Build ``config_path``'s model and optimizer as configured and train one step on two
    random 64x64 images (every module, depth, head count and window as configured, at 1/8
    width where ``narrow_model`` knows the modules; position embeddings and windows adapt to
    the small input as they do for any input size)."""
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper

    from mmdiverse.apis.launch import build_model, toolbox_of

    cfg = Config.fromfile(config_path)
    cfg.model = narrow_model(cfg.model)
    segmentation = toolbox_of(cfg) == 'mmseg'
    if cfg.optim_wrapper.get('type') == 'AmpOptimWrapper':  # mmengine's AMP needs a GPU
        cfg.optim_wrapper.type = 'OptimWrapper'
        cfg.optim_wrapper.pop('loss_scale', None)
        cfg.optim_wrapper.pop('dtype', None)
    if segmentation:
        cfg.model.data_preprocessor.size = (64, 64)
        cfg.model.backbone.init_cfg = None
    if 'Swin' in cfg.model.backbone.type:  # a 2x2 last grid under a 7x7 or 12x12 window
        cfg.model.backbone.pad_small_map = True
    with skip_random_init():
        model = build_model(cfg)
    _cheap_init(model)
    model.train()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    torch.manual_seed(0)
    if segmentation:
        from mmengine.structures import PixelData
        from mmseg.structures import SegDataSample

        num_classes = cfg.model.decode_head.num_classes
        size, samples = 64, []
        for _ in range(2):
            sample = SegDataSample(
                metainfo=dict(
                    img_shape=(size, size), ori_shape=(size, size), pad_shape=(size, size)
                )
            )
            sample.gt_sem_seg = PixelData(
                data=torch.randint(0, num_classes, (1, size, size), dtype=torch.long)
            )
            samples.append(sample)
    else:
        from mmpretrain.structures import DataSample

        size = 64
        samples = [DataSample().set_gt_label(i) for i in (0, 1)]
    data = dict(
        inputs=[torch.randint(0, 256, (3, size, size), dtype=torch.uint8) for _ in range(2)],
        data_samples=samples,
    )
    log_vars = model.train_step(data, optim_wrapper)
    return {key: float(value) for key, value in log_vars.items()}


@pytest.mark.slow
@lite_only
@pytest.mark.parametrize('config', CONFIGS, ids=lambda p: osp.relpath(p, REPO_ROOT))
def test_every_config_trains_one_step_in_the_lite_install(config, narrow_model):
    import gc

    log_vars = _one_training_step(config, narrow_model)
    assert 'loss' in log_vars and all(torch.isfinite(torch.tensor(v)) for v in log_vars.values()), (
        log_vars
    )
    gc.collect()


@pytest.mark.slow
@lite_only
def test_mmseg_stock_test_tool_prints_miou(tmp_path):
    """mmseg's own tools/test.py evaluates the demo UperNet config in the lite install."""
    import mmseg
    from mmengine.config import Config

    from mmdiverse.apis.launch import build_model
    from mmdiverse.datasets import make_segmentation_set
    from tests.helpers.tools import data_root_options, run_tool

    root = make_segmentation_set(str(tmp_path / 'data'), num_train=2, num_val=4, img_size=64)
    config = osp.join(REPO_ROOT, 'configs', 'demo', 'upernet_vit_tiny_shapes.py')
    cfg = Config.fromfile(config)
    cfg.model.backbone.init_cfg = None
    checkpoint = str(tmp_path / 'untrained.pth')
    torch.save({'state_dict': build_model(cfg).state_dict(), 'meta': {}}, checkpoint)
    stock_tool = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools', 'test.py')
    result = run_tool(
        stock_tool,
        config,
        checkpoint,
        '--work-dir',
        str(tmp_path / 'test'),
        '--cfg-options',
        'model.backbone.init_cfg=None',
        *data_root_options(root),
        timeout=600,
    )
    assert re.search(r'mIoU: \d+\.\d+', result.stdout + result.stderr)
