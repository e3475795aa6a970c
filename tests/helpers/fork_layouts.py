"""State dicts in the key layouts of the Patch-Diversification fork's releases.

Key names and shapes follow the fork's public model definitions
(ChengyueGongR/PatchVisionTransformer, ``swin-segmentation/``: mmseg 0.11's
``EncoderDecoder``, the Swin-Transformer-Semantic-Segmentation
``SwinTransformer`` backbone, mmseg 0.11's ``UPerHead`` / ``FCNHead`` /
``PPM`` with ``ConvModule`` = ``conv`` + ``bn`` (SyncBN), configs
``configs/_base_/models/upernet_swin.py`` and
``configs/swin/upernet_swin_large_patch4_window12_512x512_160k_ade20k.py``).
Built here from those names; no code of the fork is used.
"""

from collections import OrderedDict

import torch

from mmdiverse.checkpoint.convert.common import relative_position_index

SWIN_L = dict(embed_dim=192, depths=(2, 2, 18, 2), num_heads=(6, 12, 24, 48), window=12)


def _tensor(shape, device, dtype=torch.float32, gen=None):
    if device == 'meta':
        return torch.empty(shape, device='meta', dtype=dtype)
    if dtype == torch.int64:
        return torch.zeros(shape, dtype=dtype)
    return torch.randn(shape, generator=gen)


def _conv_module(sd, name, out_c, in_c, k, device, gen):
    """mmcv ``ConvModule`` with a norm: a bias-free conv and a BatchNorm."""
    sd[f'{name}.conv.weight'] = _tensor((out_c, in_c, k, k), device, gen=gen)
    for p in ('weight', 'bias', 'running_mean'):
        sd[f'{name}.bn.{p}'] = _tensor((out_c,), device, gen=gen)
    sd[f'{name}.bn.running_var'] = (
        _tensor((out_c,), device, gen=gen).abs() if device != 'meta' else _tensor((out_c,), device)
    )
    sd[f'{name}.bn.num_batches_tracked'] = _tensor((), device, torch.int64)


def fork_swin_backbone(
    sd,
    embed_dim,
    depths,
    num_heads,
    window,
    device='cpu',
    gen=None,
    prefix='backbone.',
    patch=4,
    mlp_ratio=4,
    out_norms=True,
):
    """The fork's segmentation ``SwinTransformer`` (ape=False, patch_norm=True)."""
    t = lambda *shape: _tensor(shape, device, gen=gen)  # noqa: E731
    sd[f'{prefix}patch_embed.proj.weight'] = t(embed_dim, 3, patch, patch)
    sd[f'{prefix}patch_embed.proj.bias'] = t(embed_dim)
    sd[f'{prefix}patch_embed.norm.weight'] = t(embed_dim)
    sd[f'{prefix}patch_embed.norm.bias'] = t(embed_dim)
    for s, (depth, heads) in enumerate(zip(depths, num_heads)):
        dim = embed_dim * 2**s
        for b in range(depth):
            block = f'{prefix}layers.{s}.blocks.{b}.'
            sd[block + 'norm1.weight'], sd[block + 'norm1.bias'] = t(dim), t(dim)
            sd[block + 'attn.relative_position_bias_table'] = t((2 * window - 1) ** 2, heads)
            sd[block + 'attn.relative_position_index'] = (
                relative_position_index(window)
                if device != 'meta'
                else _tensor((window**2, window**2), device, torch.int64)
            )
            sd[block + 'attn.qkv.weight'], sd[block + 'attn.qkv.bias'] = t(3 * dim, dim), t(3 * dim)
            sd[block + 'attn.proj.weight'], sd[block + 'attn.proj.bias'] = t(dim, dim), t(dim)
            sd[block + 'norm2.weight'], sd[block + 'norm2.bias'] = t(dim), t(dim)
            hidden = int(dim * mlp_ratio)
            sd[block + 'mlp.fc1.weight'], sd[block + 'mlp.fc1.bias'] = t(hidden, dim), t(hidden)
            sd[block + 'mlp.fc2.weight'], sd[block + 'mlp.fc2.bias'] = t(dim, hidden), t(dim)
        if s < len(depths) - 1:
            down = f'{prefix}layers.{s}.downsample.'
            sd[down + 'reduction.weight'] = t(2 * dim, 4 * dim)
            sd[down + 'norm.weight'], sd[down + 'norm.bias'] = t(4 * dim), t(4 * dim)
    if out_norms:
        for i in range(len(depths)):
            dim = embed_dim * 2**i
            sd[f'{prefix}norm{i}.weight'], sd[f'{prefix}norm{i}.bias'] = t(dim), t(dim)
    return sd


def fork_upernet_swin(
    embed_dim,
    depths,
    num_heads,
    window,
    num_classes,
    channels=512,
    aux_channels=256,
    pool_scales=(1, 2, 3, 6),
    device='cpu',
    seed=0,
):
    """A state dict of the fork's ``EncoderDecoder`` (UPerHead + FCNHead on stage 3)."""
    gen = torch.Generator().manual_seed(seed) if device != 'meta' else None
    sd = OrderedDict()
    fork_swin_backbone(sd, embed_dim, depths, num_heads, window, device, gen)
    in_channels = [embed_dim * 2**i for i in range(len(depths))]
    t = lambda *shape: _tensor(shape, device, gen=gen)  # noqa: E731
    sd['decode_head.conv_seg.weight'] = t(num_classes, channels, 1, 1)
    sd['decode_head.conv_seg.bias'] = t(num_classes)
    for k in range(len(pool_scales)):
        _conv_module(
            sd, f'decode_head.psp_modules.{k}.1', channels, in_channels[-1], 1, device, gen
        )
    _conv_module(
        sd,
        'decode_head.bottleneck',
        channels,
        in_channels[-1] + len(pool_scales) * channels,
        3,
        device,
        gen,
    )
    for i, c in enumerate(in_channels[:-1]):
        _conv_module(sd, f'decode_head.lateral_convs.{i}', channels, c, 1, device, gen)
    for i in range(len(in_channels) - 1):
        _conv_module(sd, f'decode_head.fpn_convs.{i}', channels, channels, 3, device, gen)
    _conv_module(
        sd, 'decode_head.fpn_bottleneck', channels, len(in_channels) * channels, 3, device, gen
    )
    sd['auxiliary_head.conv_seg.weight'] = t(num_classes, aux_channels, 1, 1)
    sd['auxiliary_head.conv_seg.bias'] = t(num_classes)
    _conv_module(sd, 'auxiliary_head.convs.0', aux_channels, in_channels[2], 3, device, gen)
    return sd


def mmcv1_checkpoint(state_dict, classes=('wall', 'building')):
    """What mmcv 1.x's runner saves: meta with classes, palette, config text."""
    return {
        'meta': {
            'mmcv_version': '1.3.0',
            'CLASSES': tuple(classes),
            'PALETTE': [[120, 120, 120]] * len(classes),
            'iter': 160000,
            'config': "model = dict(type='EncoderDecoder')",
        },
        'state_dict': state_dict,
        'optimizer': {'state': {}, 'param_groups': [{'lr': 6e-05, 'params': [0]}]},
    }


def microsoft_swin_classifier(
    embed_dim, depths, num_heads, window, img_size, num_classes, device='cpu', seed=0, patch=4
):
    """A Microsoft Swin ImageNet classifier (the fork's Swin-L release layout):
    the blocks as in :func:`fork_swin_backbone`, an ``attn_mask`` buffer in each
    shifted block of a stage larger than the window, the final ``norm`` and
    the ``head`` Linear."""
    gen = torch.Generator().manual_seed(seed) if device != 'meta' else None
    sd = fork_swin_backbone(
        OrderedDict(),
        embed_dim,
        depths,
        num_heads,
        window,
        device,
        gen,
        prefix='',
        patch=patch,
        out_norms=False,
    )
    for s, depth in enumerate(depths):
        side = img_size // patch // 2**s
        if side <= window:  # no shift, no mask (Microsoft's rule)
            continue
        for b in range(1, depth, 2):
            sd[f'layers.{s}.blocks.{b}.attn_mask'] = _tensor(
                ((side // window) ** 2, window**2, window**2), device, gen=gen
            )
    width = embed_dim * 2 ** (len(depths) - 1)
    sd['norm.weight'], sd['norm.bias'] = (
        _tensor((width,), device, gen=gen),
        _tensor((width,), device, gen=gen),
    )
    sd['head.weight'] = _tensor((num_classes, width), device, gen=gen)
    sd['head.bias'] = _tensor((num_classes,), device, gen=gen)
    return sd
