import json
import os.path as osp

import pytest
import torch

from tests.helpers.tools import run_tool

CONFIG = 'configs/demo/vit_tiny_shapes.py'


def _random_checkpoint(path, seed):
    """A classifier checkpoint of the demo ViT at random initialization."""
    from mmengine.config import Config

    import mmdiverse  # noqa: F401
    from mmdiverse.apis import build_model

    torch.manual_seed(seed)
    model = build_model(Config.fromfile(CONFIG))
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)


@pytest.mark.slow
def test_compares_checkpoints_on_a_folder_of_images(tmp_path, shapes_cls_root):
    first, second = str(tmp_path / 'a.pth'), str(tmp_path / 'b.pth')
    _random_checkpoint(first, 0)
    _random_checkpoint(second, 1)
    out_dir = str(tmp_path / 'out')
    run_tool(
        'tools/analysis/patch_similarity.py',
        CONFIG,
        first,
        second,
        '--labels',
        'a',
        'b',
        '--image-dir',
        osp.join(shapes_cls_root, 'val', 'circle'),
        '--out-dir',
        out_dir,
    )
    reports = json.load(open(osp.join(out_dir, 'redundancy.json')))
    assert set(reports) == {'a', 'b'}
    assert reports['a']['num_images'] == 2
    assert len(reports['a']['patch_similarity']) == 4
    assert reports['a']['patch_similarity'] != reports['b']['patch_similarity']
    assert osp.getsize(osp.join(out_dir, 'redundancy.png')) > 1000


@pytest.mark.slow
def test_refuses_a_checkpoint_missing_a_backbone_tensor(tmp_path, shapes_cls_root):
    path = str(tmp_path / 'a.pth')
    _random_checkpoint(path, 0)
    checkpoint = torch.load(path, weights_only=True)
    del checkpoint['state_dict']['backbone.layers.2.ln1.weight']
    torch.save(checkpoint, path)
    result = run_tool(
        'tools/analysis/patch_similarity.py',
        CONFIG,
        path,
        '--image-dir',
        osp.join(shapes_cls_root, 'val', 'circle'),
        '--out-dir',
        str(tmp_path / 'out'),
        check=False,
    )
    assert result.returncode != 0
    assert 'layers.2.ln1.weight' in result.stderr
