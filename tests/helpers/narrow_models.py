"""A config's model at a fraction of its width, for tests whose point is that it builds and
trains, not its size: every module type, layer count, head count, window and optimizer setting
stays as configured, with ``factor ** 2`` times fewer parameters."""

import copy
import re

#: Config keys that hold a channel width (an int or a list of ints).
WIDTH_KEYS = frozenset(
    {'embed_dims', 'feedforward_channels', 'in_channels', 'channels', 'out_channels', 'hidden_dim'}
)
#: Module types (scope prefix dropped) whose every width is named by ``WIDTH_KEYS``.
KNOWN_TYPES = frozenset(
    {
        'ImageClassifier',
        'DiverseImageClassifier',
        'EncoderDecoder',
        'TransferEncoderDecoder',
        'DiverseEncoderDecoder',
        'VisionTransformer',
        'SwinTransformer',
        'GlobalAveragePooling',
        'MultiLevelNeck',
        'LinearClsHead',
        'VisionTransformerClsHead',
        'UPerHead',
        'FCNHead',
    }
)
#: Any other key that looks like a width makes a module unknown.
WIDTH_LIKE = re.compile(r'dim|chan|embed|width|hidden')


def _type(node):
    return str(node['type']).split('.')[-1]


def _modules(node):
    """Every dict with a ``type`` in the config tree."""
    if isinstance(node, dict):
        if 'type' in node:
            yield node
        for value in node.values():
            yield from _modules(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _modules(value)


def _all_widths_known(model):
    return all(
        _type(module) in KNOWN_TYPES or not any(WIDTH_LIKE.search(str(key)) for key in module)
        for module in _modules(model)
    )


def _scaled(node, factor):
    """Copy of ``node`` with every width divided by ``factor``; None where one does not divide."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in WIDTH_KEYS and value is not None:
                values = value if isinstance(value, (list, tuple)) else [value]
                if any(v % factor for v in values):
                    return None
                value = (
                    type(value)(v // factor for v in values)
                    if isinstance(value, (list, tuple))
                    else value // factor
                )
            elif key != 'data_preprocessor':
                value = _scaled(value, factor)
                if value is None and node[key] is not None:
                    return None
            out[key] = value
        return type(node)(out)
    if isinstance(node, (list, tuple)):
        values = [_scaled(v, factor) for v in node]
        if any(s is None and v is not None for s, v in zip(values, node)):
            return None
        return type(node)(values)
    return node


def narrow_model(model, factor=8):
    """``model`` (a config's ``model`` dict) with its widths divided by ``factor``.

    Only a ViT or Swin model built from the modules in ``KNOWN_TYPES`` is narrowed (its
    ``arch`` name becomes the architecture's dict); any other model, or one whose widths do
    not divide, is returned unchanged, so it is tested at full size.
    """
    from mmpretrain.models import SwinTransformer, VisionTransformer

    zoos = {
        'VisionTransformer': VisionTransformer.arch_zoo,
        'SwinTransformer': SwinTransformer.arch_zoo,
    }
    backbone = model.get('backbone')
    if (
        not isinstance(backbone, dict)
        or _type(backbone) not in zoos
        or not _all_widths_known(model)
    ):
        return model
    model = copy.deepcopy(model)
    arch = model['backbone'].get('arch')
    if isinstance(arch, str):
        model['backbone']['arch'] = dict(zoos[_type(backbone)][arch.lower()])
    narrowed = _scaled(model, factor)
    return model if narrowed is None else narrowed
