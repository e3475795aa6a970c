"""Batches of constant-colour images (class c painted c + 1) and their per-patch colours, for
the PatchCutMix and data-preprocessor tests."""

import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample


def constant_colour_batch(labels, height, width):
    """Image of class c is the constant c + 1 in every pixel and channel."""
    labels = torch.as_tensor(labels)
    imgs = (labels.float() + 1).view(-1, 1, 1, 1).expand(-1, 3, height, width).clone()
    return imgs, F.one_hot(labels, 7).float()


def patch_colours(imgs, patch):
    """Row-major per-patch pixel values ``(B, n)``; asserts each patch is
    constant (the box is aligned)."""
    b, _, h, w = imgs.shape
    tiles = imgs[:, 0].reshape(b, h // patch, patch, w // patch, patch)
    tiles = tiles.permute(0, 1, 3, 2, 4).reshape(b, -1, patch * patch)
    assert torch.all(tiles == tiles[..., :1]), 'box not aligned to patches'
    return tiles[..., 0]


def make_data(labels, size=16):
    imgs, _ = constant_colour_batch(labels, size, size)
    return dict(inputs=imgs, data_samples=[DataSample().set_gt_label(int(c)) for c in labels])
