import pytest
import torch

import mmdiverse  # noqa: F401
from mmdiverse.models.necks import TokenPoolNeck


def test_token_mode_takes_the_class_token_and_avg_skips_the_prefix():
    tokens = torch.arange(2 * 5 * 3, dtype=torch.float32).view(2, 5, 3)
    torch.testing.assert_close(TokenPoolNeck('token')((tokens,))[0], tokens[:, 0])
    torch.testing.assert_close(
        TokenPoolNeck('avg', num_prefix_tokens=2)(tokens), tokens[:, 2:].mean(1)
    )


def test_matches_timm_pooling():
    timm = pytest.importorskip('timm')
    model = timm.create_model(
        'vit_tiny_patch16_224',
        pretrained=False,
        img_size=32,
        patch_size=8,
        embed_dim=32,
        depth=1,
        num_heads=2,
        global_pool='avg',
        fc_norm=False,
    ).eval()
    images = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        tokens = model.forward_features(images)
        pooled = model.forward_head(tokens, pre_logits=True)
    neck = TokenPoolNeck('avg', num_prefix_tokens=model.num_prefix_tokens)
    torch.testing.assert_close(neck(tokens), pooled)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="mode must be 'token' or 'avg'"):
        TokenPoolNeck('cls')
    with pytest.raises(ValueError, match='no class token'):
        TokenPoolNeck('token', num_prefix_tokens=0)
    with pytest.raises(ValueError, match=r'\(B, N, C\) tokens, got shape \(2, 3, 4, 4\)'):
        TokenPoolNeck()(torch.zeros(2, 3, 4, 4))
