"""End to end: pretrain a tiny backbone, transfer it to UperNet, train, test.

Tiny versions of the configs in configs/seg (each test writes a config that
inherits the real one and only shrinks it), on synthetic ADE20K-format
(``reduce_zero_label``) and Cityscapes-format data sets, through the real
tools (tools/train.py, tools/test.py, tools/dist_test.sh and
tools/dataset_converters/cityscapes.py).
"""

import glob
import json
import os
import os.path as osp
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers.cityscapes import make_cityscapes_set
from tests.helpers.tools import REPO_ROOT, data_root_options, run_tool

pytestmark = pytest.mark.slow

TINY_SWIN = 'dict(embed_dims=32, depths=[2, 2, 2, 2], num_heads=[2, 2, 2, 2])'
# In a config inheriting arch='large': replace the string by the dict.
TINY_SWIN_OVER = 'dict(_delete_=True, embed_dims=32, depths=[2, 2, 2, 2], num_heads=[2, 2, 2, 2])'
ITERS = 6

PRETRAIN_SWIN = """
_base_ = ['{repo}/configs/demo/_base_/shapes_cls.py', 'mmpretrain::_base_/default_runtime.py']
custom_imports = dict(imports=['mmdiverse'], allow_failed_imports=False)
model = dict(
    type='DiverseImageClassifier',
    backbone=dict(type='SwinTransformer', arch={tiny}, img_size=32, window_size=4,
                  pad_small_map=True, drop_path_rate=0.0),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=4, in_channels=256,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0)),
    diversity=dict(tap=dict(attn_layers=(0, )),
                   patch_cos=dict(type='PatchCosineLoss', loss_weight=0.5)))
train_dataloader = dict(batch_size=8)
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05))
train_cfg = dict(by_epoch=True, max_epochs=2, val_interval=2)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2),
                     export_meta=dict(type='ExportMetaHook'))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
"""

# The tiny segmentation configs: the real config, 64 px crops, a tiny model,
# a short schedule. {data} defines train_pipeline, test_pipeline, dataset_extra.
SEG_CONFIG = """_base_ = '{base}'
pretrained = '{pretrained}'
data_root = '{data_root}'
crop_size = (64, 64)
{data}
{model}
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline,
                                     **dataset_extra))
val_dataloader = dict(num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, pipeline=test_pipeline, **dataset_extra))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=2),
    dict(type='PolyLR', power=1.0, eta_min=0.0, begin=2, end={iters}, by_epoch=False),
]
train_cfg = dict(max_iters={iters}, val_interval={iters})
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval={iters}))
randomness = dict(seed=0)
"""

SWIN_MODEL = """
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(arch={tiny}, img_size=64, window_size=4, drop_path_rate=0.1,
                  init_cfg=dict(checkpoint=pretrained)),
    decode_head=dict(in_channels=[32, 64, 128, 256], channels=32, num_classes={classes},
                     norm_cfg=head_norm),
    auxiliary_head=dict(in_channels=128, channels=16, num_classes={classes},
                        norm_cfg=head_norm),{extra})
"""

VIT_MODEL = """
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(arch=dict(_delete_=True, embed_dims=64, num_layers=4, num_heads=4,
                            feedforward_channels=128),
                  img_size=64, patch_size=4, out_indices=[0, 1, 2, 3], drop_path_rate=0.0,
                  init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=[64] * 4, out_channels=64),
    decode_head=dict(in_channels=[64] * 4, channels=32, num_classes={classes},
                     norm_cfg=head_norm),
    auxiliary_head=dict(in_channels=64, channels=16, num_classes={classes},
                        norm_cfg=head_norm),{extra})
"""

ADE_DATA = """
head_norm = dict(type='SyncBN', requires_grad=True)   # as the recipe
dataset_extra = dict(metainfo=dict(classes={classes}))
train_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='CheckedLoadAnnotations', reduce_zero_label=True, num_classes=4),
    dict(type='RandomResize', scale=(128, 64), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='Resize', scale=(128, 64), keep_ratio=True),
    dict(type='CheckedLoadAnnotations', reduce_zero_label=True, num_classes=4),
    dict(type='PackSegInputs'),
]
"""

CITYSCAPES_DATA = """
# Plain BN heads (the recipe's SyncBN also works here: on the CPU, tools/ turn it into BN).
head_norm = dict(type='BN', requires_grad=True)
dataset_extra = dict()
train_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='CheckedLoadAnnotations', num_classes=19),
    dict(type='RandomResize', scale=(128, 64), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='Resize', scale=(128, 64), keep_ratio=True),
    dict(type='CheckedLoadAnnotations', num_classes=19),
    dict(type='PackSegInputs'),
]
"""
# Cityscapes is tested by sliding windows, as the full config does.
SLIDE = "\n    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(48, 48))"


def _ade_classes():
    from mmseg.datasets import ADE20KDataset

    return tuple(ADE20KDataset.METAINFO['classes'][:4])


def _write(path, text):
    with open(path, 'w') as f:
        f.write(text)
    return str(path)


def _seg_config(
    tmp_path, name, base, pretrained, data_root, data=ADE_DATA, model=SWIN_MODEL, extra=''
):
    """Write a tiny config inheriting configs/seg/<base>; returns its path."""
    ade = 'ade20k' in base
    text = SEG_CONFIG.format(
        base=f'{REPO_ROOT}/configs/seg/{base}',
        pretrained=pretrained,
        data_root=data_root,
        data=data.format(classes=_ade_classes() if ade else None),
        model=model.format(tiny=TINY_SWIN_OVER, classes=4 if ade else 19, extra=extra),
        iters=ITERS,
    )
    return _write(tmp_path / name, text)


def _metric_line(output):
    """The metrics the test loop printed: {'aAcc': .., 'mIoU': .., 'mAcc': ..}."""
    found = re.findall(r'Iter\(test\).*?aAcc: ([\d.]+)\s+mIoU: ([\d.]+)\s+mAcc: ([\d.]+)', output)
    assert found, output[-3000:]
    return dict(zip(('aAcc', 'mIoU', 'mAcc'), map(float, found[-1])))


def _test_json(work_dir):
    """What tools/test.py wrote to <work_dir>/test_metrics.json."""
    with open(osp.join(work_dir, 'test_metrics.json')) as f:
        return json.load(f)


def _recomputed_miou(pred_dir, gt_files, num_classes, to_train_ids):
    """IoUMetric's own functions on the saved label PNGs and the ground truth."""
    from mmseg.evaluation import IoUMetric

    areas = []
    for gt_file in gt_files:
        name = osp.basename(gt_file)
        stem = (
            name.split('_gtFine_')[0] + '_leftImg8bit'
            if '_gtFine_' in name
            else osp.splitext(name)[0]
        )
        pred, gt = to_train_ids(
            np.array(Image.open(osp.join(pred_dir, stem + '.png'))), np.array(Image.open(gt_file))
        )
        areas.append(
            IoUMetric.intersect_and_union(
                torch.from_numpy(pred).long(), torch.from_numpy(gt).long(), num_classes, 255
            )
        )
    totals = [sum(a[i] for a in areas) for i in range(4)]
    metrics = IoUMetric.total_area_to_metrics(*totals, ['mIoU'])
    return {
        'aAcc': round(float(metrics['aAcc']) * 100, 2),
        'mIoU': round(float(np.nanmean(metrics['IoU'])) * 100, 2),
        'mAcc': round(float(np.nanmean(metrics['Acc'])) * 100, 2),
    }


def _ade_to_train_ids(pred, gt):
    """Saved ADE predictions hold label + 1 (reduce_zero_label); 0 is ignored in gt."""
    gt = gt.astype(np.int64) - 1
    gt[gt < 0] = 255
    return pred.astype(np.int64) - 1, gt


def _loaded_count(output):
    found = re.findall(r'Backbone transfer: loaded (\d+)/(\d+) tensors', output)
    assert found, output[-3000:]
    return tuple(map(int, found[-1]))


@pytest.fixture(scope='module')
def pretrained_swin(tmp_path_factory, shapes_cls_root):
    """A tiny Swin pretrained with the diversity classifier; its transfer export."""
    work = tmp_path_factory.mktemp('pretrain_swin')
    config = _write(
        work / 'swin_tiny_diverse.py', PRETRAIN_SWIN.format(repo=REPO_ROOT, tiny=TINY_SWIN)
    )
    run_tool(
        'tools/train.py',
        config,
        '--work-dir',
        str(work / 'run'),
        '--cfg-options',
        *data_root_options(shapes_cls_root),
    )
    export = work / 'run' / 'backbone_export.pth'
    assert export.is_file()
    return str(export)


@pytest.fixture(scope='module')
def ade_root(tmp_path_factory):
    from mmdiverse.datasets import make_segmentation_set

    return make_segmentation_set(
        str(tmp_path_factory.mktemp('ade')), num_classes=4, num_train=16, num_val=6, img_size=64
    )


def _pretrained_backbone(export):
    from mmdiverse.checkpoint import safe_load

    checkpoint = safe_load(export)
    return {
        k[len('backbone.') :]: v
        for k, v in checkpoint['state_dict'].items()
        if k.startswith('backbone.')
    }, checkpoint


def test_every_backbone_tensor_equals_the_pretrained_one(tmp_path, pretrained_swin, ade_root):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    config = _seg_config(
        tmp_path, 'tiny_ade.py', 'upernet_swin_l_ade20k.py', pretrained_swin, ade_root
    )
    init_default_scope('mmseg')
    model = MODELS.build(Config.fromfile(config).model)
    model.init_weights()
    source, checkpoint = _pretrained_backbone(pretrained_swin)
    assert checkpoint['meta']['mmdiverse']['regularizers'] == ['patch_cos']
    target = model.backbone.state_dict()
    for key, value in source.items():  # index buffers included: same window
        assert torch.equal(target[key], value), key
    assert set(target) - set(source) == {
        f'norm{i}.{p}' for i in range(3) for p in ('weight', 'bias')
    }


def test_ade20k_transfer_train_and_test(tmp_path, pretrained_swin, ade_root):
    config = _seg_config(
        tmp_path, 'tiny_ade.py', 'upernet_swin_l_ade20k.py', pretrained_swin, ade_root
    )
    work_dir = str(tmp_path / 'train')
    result = run_tool('tools/train.py', config, '--work-dir', work_dir)
    log = result.stdout + result.stderr
    source, _ = _pretrained_backbone(pretrained_swin)
    loaded, total = _loaded_count(log)
    assert loaded == len([k for k in source if not k.endswith('relative_position_index')])
    assert total == len(source) + 6  # + norm0..norm2 weight/bias
    assert 'decode.loss_ce' in log and 'aux.loss_ce' in log
    checkpoint = osp.join(work_dir, f'iter_{ITERS}.pth')
    assert osp.isfile(checkpoint)

    # tools/test.py: metrics, the per-class table, saved predictions, overlays.
    pred_dir, show_dir = str(tmp_path / 'preds'), str(tmp_path / 'vis')
    test_dir = str(tmp_path / 'test')
    result = run_tool(
        'tools/test.py',
        config,
        checkpoint,
        '--work-dir',
        test_dir,
        '--out',
        pred_dir,
        '--show-dir',
        show_dir,
    )
    output = result.stdout + result.stderr
    printed = _metric_line(output)
    assert 'per class results:' in output
    for name in _ade_classes():
        assert re.search(rf'\|\s+{name}\s+\|\s+[\d.]+\s+\|', output), name
    dumped = _test_json(test_dir)
    gt_files = sorted(glob.glob(osp.join(ade_root, 'annotations', 'validation', '*.png')))
    assert len(glob.glob(osp.join(pred_dir, '*.png'))) == len(gt_files) == 6
    recomputed = _recomputed_miou(pred_dir, gt_files, 4, _ade_to_train_ids)
    for key in ('aAcc', 'mIoU', 'mAcc'):
        assert recomputed[key] == pytest.approx(printed[key], abs=0.011), key
        assert dumped[key] == pytest.approx(printed[key], abs=0.011), key
    print(f'tiny ADE20K UperNet-Swin after {ITERS} iterations: {printed}')
    overlays = sorted(glob.glob(osp.join(show_dir, '**', '*.png'), recursive=True))
    assert len(overlays) == len(gt_files)
    overlay = np.array(Image.open(overlays[0]).convert('RGB'))
    assert overlay.shape[0] == 64 and overlay.shape[1] >= 64 and overlay.std() > 0

    # --tta: multi-scale (0.5 - 1.75) + flip.
    result = run_tool(
        'tools/test.py', config, checkpoint, '--work-dir', str(tmp_path / 'tta'), '--tta'
    )
    tta = _metric_line(result.stdout + result.stderr)
    print(f'with --tta: {tta}')
    assert 0 <= tta['mIoU'] <= 100


def test_missing_backbone_key_stops_the_run(tmp_path, pretrained_swin, ade_root):
    _, checkpoint = _pretrained_backbone(pretrained_swin)
    key = 'backbone.stages.1.blocks.0.attn.w_msa.qkv.weight'
    del checkpoint['state_dict'][key]
    broken = str(tmp_path / 'broken.pth')
    torch.save(checkpoint, broken)
    config = _seg_config(tmp_path, 'tiny_ade.py', 'upernet_swin_l_ade20k.py', broken, ade_root)
    result = run_tool('tools/train.py', config, '--work-dir', str(tmp_path / 'run'), check=False)
    assert result.returncode != 0
    assert 'BackboneLoadError' in result.stderr
    assert (
        'Missing from the checkpoint (1): stages.1.blocks.0.attn.w_msa.qkv.weight' in result.stderr
    )
    assert not glob.glob(str(tmp_path / 'run' / 'iter_*.pth'))


def test_diverse_fine_tuning_logs_the_pretraining_loss_keys(tmp_path, pretrained_swin, ade_root):
    config = _seg_config(
        tmp_path,
        'tiny_ade_div.py',
        'upernet_swin_l_ade20k_diverse_ft.py',
        pretrained_swin,
        ade_root,
    )
    result = run_tool(
        'tools/train.py',
        config,
        '--work-dir',
        str(tmp_path / 'run'),
        '--no-validate',
        '--cfg-options',
        'train_cfg.max_iters=2',
    )
    log = result.stdout + result.stderr
    for key in (
        'loss_patch_cos',
        'loss_patch_contrast',
        'loss_attn_div',
        'loss_weight_cond',
        'patch_cos_sim',
        'decode.loss_ce',
    ):
        assert key in log, key
    _loaded_count(log)


def test_deit_transfer_interpolates_the_position_embedding(tmp_path, shapes_cls_root, ade_root):
    """configs/demo/vit_tiny_shapes.py (32 px, 8x8 tokens) -> UperNet at 64 px (16x16)."""
    pretrain_dir = str(tmp_path / 'vit')
    run_tool(
        'tools/train.py',
        'configs/demo/vit_tiny_shapes.py',
        '--work-dir',
        pretrain_dir,
        '--cfg-options',
        *data_root_options(shapes_cls_root),
        'train_cfg.max_epochs=2',
        'train_dataloader.batch_size=16',
    )
    pretrained = osp.join(pretrain_dir, 'epoch_2.pth')
    config = _seg_config(
        tmp_path,
        'tiny_deit.py',
        'upernet_deit_s12_ade20k.py',
        pretrained,
        ade_root,
        model=VIT_MODEL,
    )
    result = run_tool(
        'tools/train.py',
        config,
        '--work-dir',
        str(tmp_path / 'seg'),
        '--no-validate',
        '--cfg-options',
        'train_cfg.max_iters=2',
    )
    log = result.stdout + result.stderr
    loaded, total = _loaded_count(log)
    assert loaded == total  # every ViT tensor, nothing new
    assert '1 resized: pos_embed (1, 65, 64) -> (1, 257, 64)' in log


def _cityscapes_to_train_ids(pred, gt):
    return pred.astype(np.int64), gt.astype(np.int64)


def test_cityscapes_convert_transfer_train_and_dist_test(tmp_path, pretrained_swin):
    root = make_cityscapes_set(str(tmp_path / 'cityscapes'), num_train=8, num_val=3)
    run_tool('tools/dataset_converters/cityscapes.py', root)
    config = _seg_config(
        tmp_path,
        'tiny_cs.py',
        'upernet_swin_l_cityscapes.py',
        pretrained_swin,
        root + '/',
        data=CITYSCAPES_DATA,
        extra=SLIDE,
    )
    work_dir = str(tmp_path / 'train')
    result = run_tool('tools/train.py', config, '--work-dir', work_dir, '--no-validate')
    _loaded_count(result.stdout + result.stderr)
    checkpoint = osp.join(work_dir, f'iter_{ITERS}.pth')

    pred_dir, test_dir = str(tmp_path / 'preds'), str(tmp_path / 'test')
    result = subprocess.run(
        [
            'bash',
            'tools/dist_test.sh',
            config,
            checkpoint,
            '1',
            '--work-dir',
            test_dir,
            '--out',
            pred_dir,
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, PORT='29517', PYTHON=sys.executable),
    )
    assert result.returncode == 0, result.stderr[-6000:]
    printed = _metric_line(result.stdout + result.stderr)
    gt_files = sorted(glob.glob(osp.join(root, 'gtFine', 'val', '*', '*_gtFine_labelTrainIds.png')))
    assert len(gt_files) == 3
    recomputed = _recomputed_miou(pred_dir, gt_files, 19, _cityscapes_to_train_ids)
    for key in ('aAcc', 'mIoU', 'mAcc'):
        assert recomputed[key] == pytest.approx(printed[key], abs=0.011), key
    assert _test_json(test_dir)['mIoU'] == pytest.approx(printed['mIoU'], abs=0.011)
    print(f'tiny Cityscapes UperNet-Swin after {ITERS} iterations: {printed}')
