"""LayerIndex: config values -> blocks, with errors naming key and layers."""

import pytest
import torch.nn as nn

from mmdiverse.models.taps import LayerIndex, build_tap
from tests.helpers.tiny_backbones import tiny_vit

NAMES = ['layers.0', 'layers.1', 'layers.2']


def index(**kwargs):
    return LayerIndex(NAMES, 'Toy', cfg_key='diversity.tap', **kwargs)


def test_indices_names_and_aliases_resolve_to_block_indices():
    layers = index(aliases={'patch_embed': 0})
    assert layers.resolve(1, 'first_layer') == 1
    assert layers.resolve(-1, 'first_layer') == 2
    assert layers.resolve(-3, 'first_layer') == 0
    assert layers.resolve('layers.2', 'first_layer') == 2
    assert layers.resolve('patch_embed', 'first_layer') == 0
    assert layers.name(2) == 'layers.2'
    assert layers.resolve_blocks((2, 'layers.0', -1), 'attn_layers') == (0, 2)
    assert layers.resolve_blocks(1, 'attn_layers') == (1,)
    assert layers.resolve_blocks((), 'attn_layers') == ()


@pytest.mark.parametrize('spec', [3, -4, 'layers.3', 'blocks.0', True, 1.0, None])
def test_unknown_layer_names_key_and_valid_layers(spec):
    with pytest.raises(ValueError) as err:
        index(aliases={'patch_embed': 0}).resolve(spec, 'first_layer')
    msg = str(err.value)
    assert f'diversity.tap.first_layer={spec!r}' in msg
    assert 'layers.0, layers.1, layers.2' in msg and '[-3, 2]' in msg
    assert 'aliases: patch_embed' in msg


def test_submodule_names_resolve_to_names_but_are_no_blocks():
    root = nn.Sequential(nn.Sequential(nn.Conv2d(1, 1, 1)))
    layers = LayerIndex(['0.0'], 'Toy', submodules=root)
    assert layers.resolve('0.0', 'first_layer') == 0
    assert layers.resolve('0', 'first_layer') == '0'
    assert layers.name('0') == '0'
    assert 'or any submodule name of Sequential' in layers.message()
    with pytest.raises(ValueError, match="tap.attn_layers: '0' is not a block"):
        layers.resolve_blocks(('0',), 'attn_layers')
    with pytest.raises(ValueError, match='is not a layer'):
        layers.resolve('', 'first_layer')


@pytest.mark.parametrize(
    'kwargs,bad',
    [
        (dict(first_layer=2), '2'),
        (dict(first_layer='layers.7'), 'layers.7'),
        (dict(attn_layers=('blocks.0',)), 'blocks.0'),
        (dict(attn_layers=(-3,)), '-3'),
    ],
)
def test_missing_layer_fails_at_build_with_valid_names(kwargs, bad):
    with pytest.raises(ValueError) as err:
        build_tap(tiny_vit(), cfg_key='diversity.tap', **kwargs)
    msg = str(err.value)
    assert bad in msg and 'layers.0, layers.1' in msg
    assert 'diversity.tap.' in msg
