"""mmdiverse.analysis.report: the per-block redundancy report of a model."""

import pytest
import torch

from mmdiverse.analysis import redundancy_report


def _tiny_vit_classifier():
    from mmpretrain.models import ImageClassifier

    import mmdiverse  # noqa: F401

    return ImageClassifier(
        backbone=dict(
            type='VisionTransformer',
            img_size=16,
            patch_size=4,
            arch=dict(embed_dims=16, num_layers=3, num_heads=2, feedforward_channels=32),
        ),
        head=dict(type='VisionTransformerClsHead', num_classes=3, in_channels=16),
        data_preprocessor=dict(type='ClsDataPreprocessor', num_classes=3),
    ).eval()


def _batches(count=2, batch=2):
    from mmpretrain.structures import DataSample

    return [
        dict(
            inputs=[torch.randint(0, 255, (3, 16, 16), dtype=torch.uint8) for _ in range(batch)],
            data_samples=[DataSample().set_gt_label(0) for _ in range(batch)],
        )
        for _ in range(count)
    ]


def test_report_finds_the_layer_whose_tokens_were_made_identical():
    model = _tiny_vit_classifier()

    def collapse_patch_tokens(module, args, output):
        patches = output[:, 1:]  # keep the class token, make every patch token equal
        return torch.cat([output[:, :1], patches.mean(dim=1, keepdim=True).expand_as(patches)], 1)

    model.backbone.layers[1].register_forward_hook(collapse_patch_tokens)
    report = redundancy_report(model, _batches())
    assert report['num_images'] == 4
    assert list(report['patch_similarity']) == ['layers.0', 'layers.1', 'layers.2']
    assert report['patch_similarity']['layers.1'] == pytest.approx(1.0, abs=1e-5)
    assert report['patch_similarity']['layers.0'] < 0.99
    assert set(report['head_similarity']) == set(report['patch_similarity'])
    assert set(report['condition_number']['layers.2']) == {'q', 'k', 'v'}
    assert all(v >= 1 for v in report['condition_number']['layers.0'].values())
    # q, k, v of a block are the three (16, 16) parts of its fused qkv weight
    qkv = model.backbone.layers[2].attn.qkv.weight.detach().double()
    for name, part in zip('qkv', qkv.chunk(3)):
        singular = torch.linalg.svdvals(part)
        assert report['condition_number']['layers.2'][name] == pytest.approx(
            (singular[0] / singular[-1]).item(), rel=1e-9
        )
