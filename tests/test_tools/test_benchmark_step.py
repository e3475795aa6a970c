"""tools/benchmarks/benchmark_step.py in CI size on the CPU: it builds each
pair through the registries, alternates full training steps and prints a
table of finite figures (no timing is asserted)."""

import importlib.util
import json
import math
import os.path as osp

import pytest
import torch

from tests.helpers.tools import REPO_ROOT

TOOL = osp.join(REPO_ROOT, 'tools', 'benchmarks', 'benchmark_step.py')
TERMS = ('loss_patch_cos', 'loss_patch_contrast', 'loss_attn_div', 'loss_weight_cond')
#: Every run here: two timed rounds of two images after one warm-up step, on the CPU.
TINY_RUN = ['--device', 'cpu', '--batch-size', '2', '--iters', '2', '--warmup', '1']


def load_tool():
    spec = importlib.util.spec_from_file_location('benchmark_step', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_row(row, batch, size, amp='fp32', mix=True):
    assert row['amp'] == amp and len(row['ratios']) == 2
    assert math.isfinite(row['throughput_ratio']) and row['throughput_ratio'] > 0
    costs = sorted(1 / r for r in row['ratios'])
    assert row['step_cost_ratio'] == pytest.approx(sum(costs) / 2)  # median of 2
    low, high = row['step_cost_quartiles']
    assert costs[0] - 1e-12 <= low <= row['step_cost_ratio'] <= high <= costs[1] + 1e-12
    for key in ('diverse', 'baseline'):
        side = row[key]
        assert side['batch_size'] == batch and side['img_size'] == [size, size]
        assert len(side['step_s']) == 2 and all(t > 0 for t in side['step_s'])
        assert math.isfinite(side['img_per_s']) and side['img_per_s'] > 0
        assert side['peak_mib'] > 0
        assert side['non_finite'] == [] and all(map(math.isfinite, side['losses'].values()))
    terms = TERMS + (('loss_patch_mix',) if mix else ())
    assert set(terms) <= set(row['diverse']['losses'])
    assert not set(terms) & set(row['baseline']['losses'])


@pytest.mark.slow
def test_cpu_classification_pair_prints_finite_figures(tmp_path, capsys):
    """configs/pretrain/deit_s24_{diverse,baseline}.py as they are (recipe,
    Mixup + PatchCutMix, clipped AdamW) with a 2-block, 48-wide ViT at 32 px,
    in bf16 autocast."""
    tool = load_tool()
    out = tmp_path / 'figures.json'
    rows, failed = tool.main(
        [
            *TINY_RUN,
            '--amp',
            'bf16',
            '--json',
            str(out),
            '--pairs',
            'deit_s24',
            '--img-size',
            '32',
            '--cfg-options',
            'model.backbone.img_size=32',
            'model.backbone.arch.num_layers=2',
            'model.backbone.arch.embed_dims=48',
            'model.backbone.arch.feedforward_channels=96',
            'model.backbone.arch.num_heads=2',
            'model.head.in_channels=48',
        ]
    )
    printed = capsys.readouterr().out
    assert failed == [] and [r['pair'] for r in rows] == ['deit_s24']
    for row in rows:
        check_row(row, batch=2, size=32, amp='bf16')
        assert f'| {row["pair"]}' in printed and f'{row["throughput_ratio"]:.3f}' in printed
        assert f'{row["step_cost_ratio"]:.3f} ({row["step_cost_quartiles"][0]:.3f}-' in printed
    assert 'finite' in printed and 'NON-FINITE' not in printed
    assert json.loads(out.read_text()) == dict(
        device=f'cpu ({torch.get_num_threads()} threads)',
        torch=torch.__version__,
        rows=rows,
        out_of_memory=[],
    )


@pytest.mark.slow
def test_cpu_segmentation_pair_prints_finite_figures(capsys):
    """The UperNet Swin-L pair (diverse_ft vs plain fine-tuning) as configured
    except for the size: a 1-block-per-stage, 16-wide Swin, narrow heads,
    64x64 crops."""
    tool = load_tool()
    rows, failed = tool.main(
        [
            *TINY_RUN,
            '--pairs',
            'upernet_swin_l',
            'upernet_swin_l_transfer',
            '--img-size',
            '64',
            '--cfg-options',
            'model.backbone.arch._delete_=True',
            'model.backbone.arch.embed_dims=16',
            'model.backbone.arch.depths=[1,1,1,1]',
            'model.backbone.arch.num_heads=[1,1,2,2]',
            'model.backbone.window_size=4',
            'model.data_preprocessor.size=(64,64)',
            'model.decode_head.in_channels=[16,32,64,128]',
            'model.decode_head.channels=16',
            'model.auxiliary_head.in_channels=64',
            'model.auxiliary_head.channels=16',
        ]
    )
    printed = capsys.readouterr().out
    assert failed == [] and [r['pair'] for r in rows] == [
        'upernet_swin_l',
        'upernet_swin_l_transfer',
    ]
    check_row(rows[0], batch=2, size=64, mix=False)
    assert '| upernet_swin_l ' in printed and '| upernet_swin_l_transfer' in printed
    assert 'decode.loss_ce' in rows[0]['baseline']['losses']
    assert (rows[0]['diverse_model'], rows[0]['baseline_model']) == (
        'DiverseEncoderDecoder',
        'TransferEncoderDecoder',
    )
    # regularizers off on both sides: ours against mmseg's own EncoderDecoder
    transfer = rows[1]
    assert (transfer['diverse_model'], transfer['baseline_model']) == (
        'TransferEncoderDecoder',
        'EncoderDecoder',
    )
    for side in ('diverse', 'baseline'):
        assert transfer[side]['non_finite'] == [] and transfer[side]['img_per_s'] > 0
        assert not set(TERMS) & set(transfer[side]['losses'])


def test_pairs_are_resolved_and_missing_defaults_skipped(capsys, tmp_path):
    tool = load_tool()
    pairs = tool.resolve_pairs(list(tool.DEFAULT_PAIRS))
    names = [p[0] for p in pairs]
    assert names[:4] == ['deit_s24', 'swin_l', 'upernet_swin_l', 'upernet_swin_l_transfer']
    assert pairs[3][3] is tool.stock_encoder_decoder
    printed = capsys.readouterr().out
    for name, (diverse, baseline, *_) in tool.DEFAULT_PAIRS.items():
        present = all(osp.isfile(osp.join(REPO_ROOT, f)) for f in (diverse, baseline))
        assert (name in names) == present
        assert (f'skipping pair {name}' in printed) == (not present)
    with pytest.raises(SystemExit, match='config file not found'):
        tool.resolve_pairs([f'{tmp_path}/a.py,{tmp_path}/b.py'])
    with pytest.raises(SystemExit, match='DIVERSE.py,BASELINE.py'):
        tool.resolve_pairs(['not_a_pair'])


def test_synthetic_batches_follow_the_config():
    from mmengine.config import Config

    from tools.benchmarks.synthetic_batches import SyntheticBatches, config_img_size

    seg = Config.fromfile(osp.join(REPO_ROOT, 'configs/seg/upernet_swin_l_ade20k.py'))
    cls = Config.fromfile(osp.join(REPO_ROOT, 'configs/pretrain/swin_l_baseline.py'))
    assert config_img_size(seg) == (512, 512) and config_img_size(cls) == (384, 384)
    batch = SyntheticBatches(seg, None, batch_size=2, img_size=(32, 48)).next()
    label = batch['data_samples'][1].gt_sem_seg.data
    assert batch['inputs'][0].shape == (3, 32, 48) and label.shape == (1, 32, 48)
    assert set(label.unique().tolist()) <= set(range(150)) | {255}
    batch = SyntheticBatches(cls, None, batch_size=3, img_size=(16,)).next()
    assert [s.gt_label.item() < 1000 for s in batch['data_samples']] == [True] * 3
    with pytest.raises(ValueError, match='at least 2 images'):
        SyntheticBatches(seg, None, batch_size=1)


SSL_TINY = {
    'mae': (
        'mae_vit_b_baseline.py',
        'DiverseMAE',
        """
model = dict(
    backbone=dict(arch=dict(_delete_=True, embed_dims=32, num_layers=2, num_heads=2,
                            feedforward_channels=64),
                  img_size=32, patch_size=8),
    neck=dict(num_patches=16, patch_size=8, embed_dim=32, decoder_embed_dim=16,
              decoder_depth=1, decoder_num_heads=2),
    head=dict(patch_size=8))
""",
        'tap=dict(attn_layers=(1, ))',
    ),
    'simmim': (
        'simmim_swin_b_baseline.py',
        'DiverseSimMIM',
        """
model = dict(
    backbone=dict(arch=dict(_delete_=True, embed_dims=16, depths=[2, 2], num_heads=[2, 2]),
                  img_size=32,
                  out_indices=(1, ), stage_cfgs=dict(block_cfgs=dict(window_size=2))),
    neck=dict(in_channels=32, encoder_stride=8))
train_dataloader = dict(dataset=dict(pipeline=[
    dict(t, input_size=32, mask_patch_size=8) if t['type'] == 'SimMIMMaskGenerator' else t
    for t in _base_.train_dataloader.dataset.pipeline]))
""",
        'tap=dict(attn_layers=(3, ))',
    ),
}


def tiny_ssl_pair(tmp_path, name):
    """A tiny baseline inheriting the project's SSL baseline config, and a
    diverse config that only switches the model type on and adds the terms
    (what configs/pretrain/{mae,simmim}_*_diverse.py do at full size)."""
    baseline_file, model_type, shrink, tap = SSL_TINY[name]
    base = osp.join(REPO_ROOT, 'configs', 'pretrain', baseline_file)
    baseline = tmp_path / f'{name}_tiny_baseline.py'
    baseline.write_text(f'_base_ = [{base!r}]\n{shrink}')
    diverse = tmp_path / f'{name}_tiny_diverse.py'
    terms = ', '.join(
        f"{t}=dict(type='{c}', loss_weight=0.1)"
        for t, c in (
            ('patch_cos', 'PatchCosineLoss'),
            ('patch_contrast', 'PatchContrastiveLoss'),
            ('attn_div', 'AttentionDiversityLoss'),
            ('weight_cond', 'WeightConditionLoss'),
        )
    )
    diverse.write_text(
        f"_base_ = ['./{baseline.name}']\n"
        f"model = dict(type='{model_type}', diversity=dict({terms}, {tap}))\n"
    )
    return f'{diverse},{baseline}'


@pytest.mark.slow
def test_cpu_self_supervised_pairs_print_finite_figures(tmp_path, capsys):
    """The MAE and SimMIM baselines of configs/pretrain (mmpretrain's recipes)
    shrunk to tiny encoders at 32 px, against their diverse models."""
    for name in SSL_TINY:
        if not osp.isfile(osp.join(REPO_ROOT, 'configs', 'pretrain', SSL_TINY[name][0])):
            pytest.skip(f'configs/pretrain/{SSL_TINY[name][0]} not there yet')
    tool = load_tool()
    rows, failed = tool.main(
        [
            *TINY_RUN,
            '--img-size',
            '32',
            '--pairs',
            *(tiny_ssl_pair(tmp_path, n) for n in SSL_TINY),
        ]
    )
    assert failed == [] and len(rows) == 2
    for row, model in zip(rows, ('DiverseMAE', 'DiverseSimMIM')):
        check_row(row, batch=2, size=32, mix=False)
        assert row['diverse_model'] == model and row['baseline_model'] == model[7:]
        assert 'loss_rec' in row['diverse']['losses']
        assert 'loss' in row['baseline']['losses']
    assert 'NON-FINITE' not in capsys.readouterr().out


def test_synthetic_batches_of_self_supervised_configs():
    from mmengine.config import Config

    from tools.benchmarks.synthetic_batches import SyntheticBatches

    for name, masked in (('mae_vit_b_baseline.py', False), ('simmim_swin_b_baseline.py', True)):
        path = osp.join(REPO_ROOT, 'configs', 'pretrain', name)
        if not osp.isfile(path):
            continue
        cfg = Config.fromfile(path)
        batch = SyntheticBatches(cfg, None, batch_size=2).next()
        assert batch['inputs'].shape[0] == 2  # default_collate stacks
        sample = batch['data_samples'][0]
        assert 'gt_label' not in sample
        assert ('mask' in sample) == masked
        if masked:  # 192 px, 4 px patches, 60 %
            assert sample.mask.shape == (48, 48)
            assert int(sample.mask.sum()) == round(0.6 * 36) * 64
