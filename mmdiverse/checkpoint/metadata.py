"""Architecture and regularizer facts recorded in ``meta['mmdiverse']``.

What a transfer file says about the run that produced it (see
:mod:`.export` for the file layout): the backbone class, ``arch`` and its
settings, image / patch / window size, token stride, and which diversity
terms were on with their loss weights. Read from a built backbone
(:func:`describe_backbone`), from mmpretrain-layout weights alone
(:func:`describe_state_dict`), or from a training config
(:func:`meta_from_cfg`).
"""

from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch

from .convert.common import count_indices
from .read import META_KEY

#: Keys of ``model.diversity`` that configure something other than a term
#: (mmdiverse.models.diversity.DiversityRegularizer refuses any other non-term key).
NON_TERM_KEYS = ('tap',)


def _arch_name(zoo: Mapping[str, dict], settings: Mapping[str, Any]) -> Optional[str]:
    """The mmpretrain ``arch`` name whose settings equal ``settings``."""
    for name, entry in zoo.items():
        if all(
            _plain(entry.get(k)) == _plain(v) for k, v in settings.items() if v is not None
        ) and set(entry) <= set(settings):
            aliases = [n for n, e in zoo.items() if e is entry]
            longer = [n for n in aliases if len(n) > len(aliases[0])]
            return longer[0] if longer else aliases[0]
    return None


def _plain(value):
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def describe_state_dict(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, Any]:
    """Architecture facts readable from mmpretrain-layout weights alone.

    Recognises mmpretrain's ``VisionTransformer`` (DeiT, distilled DeiT)
    and ``SwinTransformer``; other backbones give ``{'backbone': None}``.
    ViT head counts cannot be read from weights: they are filled in when
    the other dimensions match an mmpretrain ``arch`` name.
    """
    keys = list(state_dict)
    proj = state_dict.get('backbone.patch_embed.projection.weight')
    info: Dict[str, Any] = {'backbone': None}
    if proj is None:
        return info
    patch = int(proj.shape[-1])
    dims = int(proj.shape[0])
    stages = count_indices(keys, r'backbone\.stages\.(\d+)\.')
    if stages:
        from mmpretrain.models.backbones import SwinTransformer

        depths = [
            count_indices(keys, rf'backbone\.stages\.{s}\.blocks\.(\d+)\.') for s in range(stages)
        ]
        tables = [
            state_dict.get(f'backbone.stages.{s}.blocks.0.attn.w_msa.relative_position_bias_table')
            for s in range(stages)
        ]
        heads = [int(t.shape[1]) if t is not None else None for t in tables]
        window = None
        if tables[0] is not None:
            window = (round(tables[0].shape[0] ** 0.5) + 1) // 2
        settings = dict(embed_dims=dims, depths=depths, num_heads=heads)
        img = None
        ape = state_dict.get('backbone.absolute_pos_embed')
        if ape is not None:
            img = round(ape.shape[1] ** 0.5) * patch
        info.update(
            backbone='SwinTransformer',
            arch=_arch_name(SwinTransformer.arch_zoo, settings),
            arch_settings=settings,
            img_size=img,
            patch_size=patch,
            window_size=window,
            token_stride=patch * 2 ** (stages - 1),
        )
        return info
    layers = count_indices(keys, r'backbone\.layers\.(\d+)\.')
    fc1 = state_dict.get('backbone.layers.0.ffn.layers.0.0.weight')
    if not layers or fc1 is None:
        return info
    from mmpretrain.models.backbones import VisionTransformer

    settings = dict(
        embed_dims=dims, num_layers=layers, num_heads=None, feedforward_channels=int(fc1.shape[0])
    )
    arch = _arch_name(VisionTransformer.arch_zoo, settings)
    if arch is not None:
        settings['num_heads'] = VisionTransformer.arch_zoo[arch]['num_heads']
    extra = sum(k in state_dict for k in ('backbone.cls_token', 'backbone.dist_token'))
    img = None
    pos = state_dict.get('backbone.pos_embed')
    if pos is not None:
        side = round((pos.shape[1] - extra) ** 0.5)
        if side * side == pos.shape[1] - extra:
            img = side * patch
    backbone = (
        'DistilledVisionTransformer' if 'backbone.dist_token' in state_dict else 'VisionTransformer'
    )
    info.update(
        backbone=backbone,
        arch=arch,
        arch_settings=settings,
        img_size=img,
        patch_size=patch,
        window_size=None,
        token_stride=patch,
    )
    return info


def describe_backbone(backbone: torch.nn.Module, arch: Any = None) -> Dict[str, Any]:
    """Architecture facts of a built backbone (what its config asked for).

    Args:
        backbone: An mmpretrain backbone (other types give what the weights
            tell, with ``backbone`` set to the class name).
        arch: The config's ``arch`` (a name is kept as given).
    """
    sd = OrderedDict((f'backbone.{k}', v) for k, v in backbone.state_dict().items())
    info = describe_state_dict(sd)
    info['backbone'] = type(backbone).__name__
    settings = getattr(backbone, 'arch_settings', None)
    if isinstance(settings, Mapping):
        info['arch_settings'] = {k: _plain(v) for k, v in settings.items()}
    if isinstance(arch, str):
        info['arch'] = arch
    embed = getattr(backbone, 'patch_embed', None)
    size = getattr(embed, 'init_input_size', None) or getattr(backbone, 'img_size', None)
    if size is not None:
        size = tuple(int(s) for s in (size if isinstance(size, (tuple, list)) else (size, size)))
        info['img_size'] = size[0] if size[0] == size[1] else list(size)
    return info


def regularizers_from_cfg(model_cfg: Optional[Mapping]) -> Tuple[List[str], Dict[str, float]]:
    """Active diversity terms of a model config and their loss weights.

    A term is a ``model.diversity`` entry holding a loss config (a dict with a
    ``type``) or a built loss module; it counts as on when its ``loss_weight``
    is non-zero (a missing ``loss_weight`` means the loss default, 1). The term
    names come from the config itself, so this module needs no copy of the
    models' term table (the checkpoint package must not import the models,
    which import it).

    Returns:
        tuple[list[str], dict[str, float]]: The active terms (sorted by name,
        so the metadata does not depend on how the config text orders them)
        and their weights.
    """
    diversity = (model_cfg or {}).get('diversity') or {}
    terms, weights = [], {}
    for term, cfg in diversity.items():
        if term in NON_TERM_KEYS:
            continue
        if isinstance(cfg, Mapping) and 'type' in cfg:
            weight = float(cfg.get('loss_weight', 1.0))
        elif isinstance(cfg, torch.nn.Module):
            weight = float(getattr(cfg, 'loss_weight', 1.0))
        else:
            continue  # an option such as patch_label_smooth
        if weight != 0:
            terms.append(term)
            weights[term] = weight
    return sorted(terms), weights


def meta_from_cfg(cfg, state_dict: Optional[Mapping] = None) -> Dict[str, Any]:
    """Metadata from a training config (and its weights, for the arch)."""
    model_cfg = cfg.get('model', {}) or {}
    backbone_cfg = model_cfg.get('backbone', {}) or {}
    info = describe_state_dict(state_dict) if state_dict is not None else {'backbone': None}
    if backbone_cfg.get('type'):
        info['backbone'] = str(backbone_cfg['type']).split('.')[-1]
    if isinstance(backbone_cfg.get('arch'), str):
        info['arch'] = backbone_cfg['arch']
    if backbone_cfg.get('img_size') is not None:
        info['img_size'] = _plain(backbone_cfg['img_size'])
    window = backbone_cfg.get('window_size')
    block = (backbone_cfg.get('stage_cfgs') or {}).get('block_cfgs') or {}
    window = block.get('window_size', window)
    if window is not None:
        info['window_size'] = window
    terms, weights = regularizers_from_cfg(model_cfg)
    info.update(regularizers=terms, loss_weights=weights)
    return info


__all__ = [
    'META_KEY',
    'describe_backbone',
    'describe_state_dict',
    'meta_from_cfg',
    'regularizers_from_cfg',
]
