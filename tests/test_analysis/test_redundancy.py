import math

import pytest
import torch

from mmdiverse.analysis import condition_numbers, mean_head_similarity, mean_patch_similarity


def _reference_patch_similarity(tokens):
    x = torch.nn.functional.normalize(tokens.double(), dim=-1)
    gram = x @ x.transpose(1, 2)
    n = tokens.shape[1]
    off_diagonal = ~torch.eye(n, dtype=torch.bool)
    return gram[:, off_diagonal].mean(dim=1)


def test_patch_similarity_matches_the_pairwise_definition():
    tokens = torch.randn(3, 7, 5)
    torch.testing.assert_close(
        mean_patch_similarity(tokens).double(),
        _reference_patch_similarity(tokens),
        atol=1e-5,
        rtol=1e-5,
    )


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
    assert condition_numbers([torch.diag(torch.tensor([4.0, 2.0, 0.5]))]) == pytest.approx([8.0])
    assert condition_numbers([torch.zeros(2, 2)]) == [math.inf]
