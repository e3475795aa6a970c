import math

import pytest
import torch

from mmdiverse.analysis import (condition_numbers, mean_head_similarity,
                                mean_patch_similarity, redundancy_report)


def _reference_patch_similarity(tokens):
    x = torch.nn.functional.normalize(tokens.double(), dim=-1)
    gram = x @ x.transpose(1, 2)
    n = tokens.shape[1]
    off_diagonal = ~torch.eye(n, dtype=torch.bool)
    return gram[:, off_diagonal].mean(dim=1)


def test_patch_similarity_matches_the_pairwise_definition():
    tokens = torch.randn(3, 7, 5)
    torch.testing.assert_close(mean_patch_similarity(tokens).double(),
                               _reference_patch_similarity(tokens), atol=1e-5, rtol=1e-5)


def test_identical_tokens_give_one_and_opposite_pairs_give_minus_one():
    same = torch.randn(2, 1, 8).expand(2, 6, 8)
    torch.testing.assert_close(mean_patch_similarity(same), torch.ones(2))
    opposite = torch.stack([torch.ones(4), -torch.ones(4)])[None]
    torch.testing.assert_close(mean_patch_similarity(opposite), -torch.ones(1))


def test_head_similarity_excludes_the_diagonal():
    attn = torch.softmax(torch.randn(2, 3, 5, 5), dim=-1)
    flat = torch.nn.functional.normalize(attn.flatten(2).double(), dim=-1)
    gram = flat @ flat.transpose(1, 2)
    expected = gram[:, ~torch.eye(3, dtype=torch.bool)].mean(dim=1)
    torch.testing.assert_close(mean_head_similarity(attn).double(), expected, atol=1e-5, rtol=1e-5)


def test_condition_numbers():
    assert condition_numbers([torch.diag(torch.tensor([4., 2., 0.5]))]) == pytest.approx([8.])
    assert condition_numbers([torch.zeros(2, 2)]) == [math.inf]


def _tiny_vit_classifier():
    import mmdiverse  # noqa: F401
    from mmpretrain.models import ImageClassifier
    return ImageClassifier(
        backbone=dict(type='VisionTransformer', img_size=16, patch_size=4,
                      arch=dict(embed_dims=16, num_layers=3, num_heads=2,
                                feedforward_channels=32)),
        head=dict(type='VisionTransformerClsHead', num_classes=3, in_channels=16),
        data_preprocessor=dict(type='ClsDataPreprocessor', num_classes=3)).eval()


def _batches(count=2, batch=2):
    from mmpretrain.structures import DataSample
    return [dict(inputs=[torch.randint(0, 255, (3, 16, 16), dtype=torch.uint8)
                         for _ in range(batch)],
                 data_samples=[DataSample().set_gt_label(0) for _ in range(batch)])
            for _ in range(count)]


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
