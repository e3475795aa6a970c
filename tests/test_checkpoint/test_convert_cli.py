"""tools/convert_checkpoint.py: files in, files out, and what it prints."""
import importlib.util
import os.path as osp

import pytest
import torch

from mmdiverse.checkpoint import convert_state_dict, safe_load
from tests.conftest import REPO_ROOT, run_tool

timm = pytest.importorskip('timm')


def load_cli():
    spec = importlib.util.spec_from_file_location(
        'convert_checkpoint_cli', osp.join(REPO_ROOT, 'tools', 'convert_checkpoint.py'))
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
    assert ('timm-swin -> mmpretrain: 173 mapped, 12 added, 0 dropped, '
            '0 could not be mapped') in result.stdout
    assert 'transformed (patch-merging channels reordered): 9 tensors' in result.stdout
    out = safe_load(dst)
    assert set(out) == {'state_dict', 'meta'}
    assert out['state_dict']['backbone.norm3.weight'].shape == (768, )
    meta = out['meta']['mmdiverse']
    assert meta['converted_from'] == 'timm-swin'
    assert meta['source'] == 'swin_tiny_timm.pth'
    assert (meta['backbone'], meta['arch'], meta['window_size'], meta['token_stride']) == \
        ('SwinTransformer', 'tiny', 7, 32)
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
    assert 'backbone.stages.0.blocks.0.attn.w_msa.relative_position_index' in \
        safe_load(str(tmp_path / 'b.pth'))['state_dict']


def test_cli_writes_each_formats_own_container(tmp_path, swin_tiny_sd):
    cli = load_cli()
    src = str(tmp_path / 'in.safetensors')
    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in swin_tiny_sd.items()}, src)
    assert cli.main([src, str(tmp_path / 'official.pth'), '--dst', 'swin-official']) == 0
    official = safe_load(str(tmp_path / 'official.pth'))
    assert list(official) == ['model'] and 'head.weight' in official['model']
    assert cli.main([str(tmp_path / 'official.pth'), str(tmp_path / 'timm.pth'),
                     '--dst', 'timm-swin']) == 0
    back = safe_load(str(tmp_path / 'timm.pth'))
    assert sorted(back) == sorted(swin_tiny_sd)  # safetensors stores keys sorted
    assert all(torch.equal(back[k], swin_tiny_sd[k]) for k in back)


def test_cli_checks_converted_weights_against_a_config(tmp_path, capsys):
    from timm.models.vision_transformer import VisionTransformer
    # the architecture of configs/demo/vit_tiny_shapes.py, as a timm model
    demo = VisionTransformer(img_size=32, patch_size=4, embed_dim=64, depth=4, num_heads=4,
                             mlp_ratio=2., num_classes=4)
    src = str(tmp_path / 'vit_tiny_timm.pth')
    torch.save({'state_dict': demo.state_dict(), 'epoch': 3}, src)  # timm train file
    cli = load_cli()
    assert cli.main([src, str(tmp_path / 'out.pth'), '--check-config',
                     osp.join(REPO_ROOT, 'configs', 'demo', 'vit_tiny_shapes.py')]) == 0
    printed = capsys.readouterr().out
    assert 'backbone: 0 missing, 0 unused, 0 shape mismatches' in printed
