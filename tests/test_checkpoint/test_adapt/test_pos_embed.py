"""The one position-embedding resize (mmdiverse.checkpoint.adapt.pos_embed)."""

import pytest
import torch
from mmpretrain.models import SwinTransformer, VisionTransformer
from mmpretrain.models.utils import resize_pos_embed

from mmdiverse.checkpoint.adapt import resize_position_embedding

VIT = dict(embed_dims=32, num_layers=1, num_heads=2, feedforward_channels=64)


def test_vit_grid_is_interpolated_and_the_class_token_kept():
    target = VisionTransformer(arch=dict(VIT), img_size=64, patch_size=8)  # 8x8 grid + cls
    value = torch.randn(1, 1 + 4 * 4, 32)
    out = resize_position_embedding(target, 'pos_embed', value, target.pos_embed)
    assert out.shape == target.pos_embed.shape
    torch.testing.assert_close(out[:, :1], value[:, :1])
    assert torch.equal(out, resize_pos_embed(value, (4, 4), (8, 8), 'bicubic', 1))


def test_class_token_entry_dropped_when_the_target_has_none():
    target = VisionTransformer(
        arch=dict(VIT), img_size=64, patch_size=8, with_cls_token=False, out_type='featmap'
    )
    value = torch.randn(1, 1 + 4 * 4, 32)
    out = resize_position_embedding(target, 'pos_embed', value, target.pos_embed)
    assert torch.equal(out, resize_pos_embed(value[:, 1:], (4, 4), (8, 8), 'bicubic', 0))


def test_swin_absolute_embedding_matches_mmpretrains_own_hook():
    arch = dict(embed_dims=16, depths=[2], num_heads=[2])
    source = SwinTransformer(
        arch=arch, img_size=32, window_size=4, use_abs_pos_embed=True, out_indices=(0,)
    )
    target = SwinTransformer(
        arch=arch, img_size=64, window_size=4, use_abs_pos_embed=True, out_indices=(0,)
    )
    value = torch.randn_like(source.absolute_pos_embed)
    ours = resize_position_embedding(target, 'absolute_pos_embed', value, target.absolute_pos_embed)
    state = {k: v for k, v in source.state_dict().items()}
    state['absolute_pos_embed'] = value
    target.load_state_dict(state, strict=False)  # mmpretrain's pre-hook resizes
    assert torch.equal(ours, target.absolute_pos_embed.detach())


def test_bad_embeddings_are_refused():
    target = VisionTransformer(arch=dict(VIT), img_size=64, patch_size=8)
    with pytest.raises(ValueError, match='same width'):
        resize_position_embedding(target, 'pos_embed', torch.randn(1, 17, 16), target.pos_embed)
    with pytest.raises(ValueError, match='not a square patch grid'):
        resize_position_embedding(target, 'pos_embed', torch.randn(1, 1 + 15, 32), target.pos_embed)
