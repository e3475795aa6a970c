"""tools/convert_checkpoint.py: files in, files out, and what it prints."""

import importlib.util
import os.path as osp

import pytest
import torch

from mmdiverse.checkpoint import convert_state_dict, safe_load
from tests.helpers.tools import REPO_ROOT, run_tool

timm = pytest.importorskip('timm')


def load_cli():
    spec = importlib.util.spec_from_file_location(
        'convert_checkpoint_cli', osp.join(REPO_ROOT, 'tools', 'convert_checkpoint.py')
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def swin_tiny_sd():
    meta = timm.create_model('swin_tiny_patch4_window7_224', device='meta').state_dict()
    return {k: torch.randn(v.shape) for k, v in meta.items()}


def test_cli_converts_a_timm_file_and_reports(tmp_path, swin_tiny_sd):
    src, dst = str(tmp_path / 'swin_tiny_timm.pth'), str(tmp_path / 'out.pth')
    torch.save(swin_tiny_sd, src)
    result = run_tool('tools/convert_checkpoint.py', src, dst)
    assert (
        'timm-swin -> mmpretrain: 173 mapped, 12 added, 0 dropped, 0 could not be mapped'
    ) in result.stdout
    assert 'transformed (patch-merging channels reordered): 9 tensors' in result.stdout
    out = safe_load(dst)
    assert set(out) == {'state_dict', 'meta'}
    assert out['state_dict']['backbone.norm3.weight'].shape == (768,)
    meta = out['meta']['mmdiverse']
    assert meta['converted_from'] == 'timm-swin'
    assert meta['source'] == 'swin_tiny_timm.pth'
    assert (meta['backbone'], meta['arch'], meta['window_size'], meta['token_stride']) == (
        'SwinTransformer',
        'tiny',
        7,
        32,
    )
    assert meta['arch_settings']['num_heads'] == [3, 6, 12, 24]


def test_cli_lists_unmappable_keys_and_fails(tmp_path, swin_tiny_sd, capsys):
    cli = load_cli()
    official, _ = convert_state_dict(swin_tiny_sd, 'timm-swin', 'swin-official')
    official['layers.0.blocks.1.attn_mask'] = torch.zeros(64, 49, 49)
    official['layers.0.blocks.0.attn.mystery'] = torch.zeros(3)
    src = str(tmp_path / 'swin_tiny_patch4_window7_224.pth')
    torch.save({'model': official}, src)  # as Microsoft publishes them

    assert cli.main([src, str(tmp_path / 'a.pth')]) == 1
    printed = capsys.readouterr().out
    assert 'swin-official -> mmpretrain' in printed
    assert 'could not map:\n  layers.0.blocks.0.attn.mystery' in printed
    assert 'layers.0.blocks.1.attn_mask: shifted-window mask: mmpretrain computes it' in printed

    assert cli.main([src, str(tmp_path / 'b.pth'), '--allow-unmapped']) == 0
    assert (
        'backbone.stages.0.blocks.0.attn.w_msa.relative_position_index'
        in safe_load(str(tmp_path / 'b.pth'))['state_dict']
    )


def test_cli_writes_each_formats_own_container(tmp_path, swin_tiny_sd):
    cli = load_cli()
    src = str(tmp_path / 'in.safetensors')
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in swin_tiny_sd.items()}, src)
    assert cli.main([src, str(tmp_path / 'official.pth'), '--dst', 'swin-official']) == 0
    official = safe_load(str(tmp_path / 'official.pth'))
    assert list(official) == ['model'] and 'head.weight' in official['model']
    assert (
        cli.main([str(tmp_path / 'official.pth'), str(tmp_path / 'timm.pth'), '--dst', 'timm-swin'])
        == 0
    )
    back = safe_load(str(tmp_path / 'timm.pth'))
    assert sorted(back) == sorted(swin_tiny_sd)  # safetensors stores keys sorted
    assert all(torch.equal(back[k], swin_tiny_sd[k]) for k in back)


def test_cli_checks_converted_weights_against_a_config(tmp_path, capsys):
    from timm.models.vision_transformer import VisionTransformer

    # the architecture of configs/demo/vit_tiny_shapes.py, as a timm model
    demo = VisionTransformer(
        img_size=32, patch_size=4, embed_dim=64, depth=4, num_heads=4, mlp_ratio=2.0, num_classes=4
    )
    src = str(tmp_path / 'vit_tiny_timm.pth')
    torch.save({'state_dict': demo.state_dict(), 'epoch': 3}, src)  # timm train file
    cli = load_cli()
    assert (
        cli.main(
            [
                src,
                str(tmp_path / 'out.pth'),
                '--check-config',
                osp.join(REPO_ROOT, 'configs', 'demo', 'vit_tiny_shapes.py'),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert 'backbone: 0 missing, 0 unused, 0 shape mismatches' in printed


def _small_seg_config(tmp_path, num_classes=150):
    """configs/seg/upernet_swin_l_ade20k.py at the widths of the small fork file."""
    path = tmp_path / 'upernet_small.py'
    path.write_text(
        f'_base_ = [{osp.join(REPO_ROOT, "configs", "seg", "upernet_swin_l_ade20k.py")!r}]\n'
        'model = dict(\n'
        '    backbone=dict(arch=dict(_delete_=True, embed_dims=16, depths=[2, 2, 2, 2],\n'
        '                            num_heads=[1, 2, 2, 4]), window_size=4),\n'
        f'    decode_head=dict(in_channels=[16, 32, 64, 128], channels=16,\n'
        f'                     num_classes={num_classes}),\n'
        f'    auxiliary_head=dict(in_channels=64, channels=8, num_classes={num_classes}))\n'
    )
    return str(path)


def _fork_file(tmp_path, num_classes=150, extra=None):
    from tests.helpers.fork_layouts import fork_upernet_swin, mmcv1_checkpoint

    sd = fork_upernet_swin(
        embed_dim=16,
        depths=(2, 2, 2, 2),
        num_heads=(1, 2, 2, 4),
        window=4,
        num_classes=num_classes,
        channels=16,
        aux_channels=8,
    )
    sd.update(extra or {})
    src = str(tmp_path / 'upernet_swin_fork.pth')
    torch.save(mmcv1_checkpoint(sd), src)  # as mmcv 1.x's runner saved it
    return src, sd


def test_cli_converts_the_fork_upernet_release_for_our_seg_config(tmp_path, capsys):
    src, fork = _fork_file(tmp_path)
    dst = str(tmp_path / 'converted.pth')
    cli = load_cli()
    assert cli.main([src, dst, '--check-config', _small_seg_config(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert (
        f'mmseg0-swin -> mmseg: {len(fork)} mapped, 0 added, 0 dropped, '
        '0 could not be mapped' in printed
    )
    assert 'model: 0 missing, 0 unused, 0 shape mismatches' in printed
    assert 'fit' in printed and 'key for key' in printed
    out = safe_load(dst)
    assert set(out) == {'state_dict', 'meta'}  # no optimizer state
    assert out['meta']['mmdiverse']['converted_from'] == 'mmseg0-swin'
    assert 'backbone.stages.3.blocks.1.attn.w_msa.qkv.weight' in out['state_dict']
    assert torch.equal(
        out['state_dict']['decode_head.conv_seg.weight'], fork['decode_head.conv_seg.weight']
    )


def test_cli_fails_on_an_unmappable_key_and_on_a_class_count_mismatch(tmp_path, capsys):
    cli = load_cli()
    src, _ = _fork_file(tmp_path, extra={'decode_head.se_block.fc.weight': torch.zeros(2, 2)})
    assert cli.main([src, str(tmp_path / 'a.pth')]) == 1
    assert 'could not map:\n  decode_head.se_block.fc.weight' in capsys.readouterr().out
    # The fork's Cityscapes config has 20 classes; our config 19.
    src, _ = _fork_file(tmp_path, num_classes=20)
    assert (
        cli.main(
            [
                src,
                str(tmp_path / 'b.pth'),
                '--check-config',
                _small_seg_config(tmp_path, num_classes=19),
            ]
        )
        == 1
    )
    printed = capsys.readouterr().out
    assert (
        'shape: decode_head.conv_seg.weight: file (20, 16, 1, 1) vs model (19, 16, 1, 1)' in printed
    )
