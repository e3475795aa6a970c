"""Export a pretrained classifier for transfer, with metadata.

A transfer file holds what a segmentation (or fine-tuning) config needs::

    {'state_dict': {'backbone.*': ..., 'head.*': ...},   # mmpretrain layout
     'meta': {'mmdiverse': {
         'backbone': 'SwinTransformer', 'arch': 'large',
         'arch_settings': {'embed_dims': 192, 'depths': [2, 2, 18, 2],
                           'num_heads': [6, 12, 24, 48]},
         'img_size': 384, 'patch_size': 4, 'window_size': 12,
         'token_stride': 32,
         'regularizers': ['patch_cos', 'patch_contrast', 'patch_mix',
                          'attn_div', 'weight_cond'],
         'loss_weights': {'patch_cos': 0.5, ...},
         'source': ...}}}

mmseg (and mmpretrain) configs load it with
``init_cfg=dict(type='Pretrained', checkpoint=PATH, prefix='backbone.')`` on
an mmpretrain backbone, with no key editing. The metadata comes from
:class:`~mmdiverse.engine.hooks.ExportMetaHook` (written into every
checkpoint during training), else from the config text mmengine stores in
``meta['cfg']``, else from the weights alone.
"""
import io
import os.path as osp
import re
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch

from .atomic_writes import atomic_write
from .safe_loading import safe_load

META_KEY = 'mmdiverse'
#: The diversity terms, in the order of :mod:`mmdiverse.models.classifiers`.
TERMS = ('patch_cos', 'patch_contrast', 'patch_mix', 'attn_div', 'weight_cond')


# ------------------------------------------------------------------ metadata
def _arch_name(zoo: Mapping[str, dict], settings: Mapping[str, Any]) -> Optional[str]:
    """The mmpretrain ``arch`` name whose settings equal ``settings``."""
    for name, entry in zoo.items():
        if all(_plain(entry.get(k)) == _plain(v) for k, v in settings.items() if v is not None) \
                and set(entry) <= set(settings):
            aliases = [n for n, e in zoo.items() if e is entry]
            longer = [n for n in aliases if len(n) > len(aliases[0])]
            return longer[0] if longer else aliases[0]
    return None


def _plain(value):
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _count(keys, pattern: str) -> int:
    found = [int(m.group(1)) for k in keys for m in [re.match(pattern, k)] if m]
    return max(found) + 1 if found else 0


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
    stages = _count(keys, r'backbone\.stages\.(\d+)\.')
    if stages:
        from mmpretrain.models.backbones import SwinTransformer
        depths = [_count(keys, rf'backbone\.stages\.{s}\.blocks\.(\d+)\.') for s in range(stages)]
        tables = [state_dict.get(f'backbone.stages.{s}.blocks.0.attn.w_msa.'
                                 'relative_position_bias_table') for s in range(stages)]
        heads = [int(t.shape[1]) if t is not None else None for t in tables]
        window = None
        if tables[0] is not None:
            window = (round(tables[0].shape[0] ** 0.5) + 1) // 2
        settings = dict(embed_dims=dims, depths=depths, num_heads=heads)
        img = None
        ape = state_dict.get('backbone.absolute_pos_embed')
        if ape is not None:
            img = round(ape.shape[1] ** 0.5) * patch
        info.update(backbone='SwinTransformer', arch=_arch_name(SwinTransformer.arch_zoo, settings),
                    arch_settings=settings, img_size=img, patch_size=patch,
                    window_size=window, token_stride=patch * 2 ** (stages - 1))
        return info
    layers = _count(keys, r'backbone\.layers\.(\d+)\.')
    fc1 = state_dict.get('backbone.layers.0.ffn.layers.0.0.weight')
    if not layers or fc1 is None:
        return info
    from mmpretrain.models.backbones import VisionTransformer
    settings = dict(embed_dims=dims, num_layers=layers, num_heads=None,
                    feedforward_channels=int(fc1.shape[0]))
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
    backbone = 'DistilledVisionTransformer' if 'backbone.dist_token' in state_dict \
        else 'VisionTransformer'
    info.update(backbone=backbone, arch=arch, arch_settings=settings, img_size=img,
                patch_size=patch, window_size=None, token_stride=patch)
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

    A term counts as on when it is configured with a non-zero
    ``loss_weight`` (a missing ``loss_weight`` means the loss default, 1).
    """
    diversity = (model_cfg or {}).get('diversity') or {}
    terms, weights = [], {}
    for term in TERMS:
        cfg = diversity.get(term)
        if not cfg:
            continue
        weight = float(cfg.get('loss_weight', 1.0)) if isinstance(cfg, Mapping) else 1.0
        if weight != 0:
            terms.append(term)
            weights[term] = weight
    return terms, weights


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
    block = ((backbone_cfg.get('stage_cfgs') or {}).get('block_cfgs') or {})
    window = block.get('window_size', window)
    if window is not None:
        info['window_size'] = window
    terms, weights = regularizers_from_cfg(model_cfg)
    info.update(regularizers=terms, loss_weights=weights)
    return info


# ------------------------------------------------------------------- writing
def save_checkpoint_file(obj: Any, path: str) -> None:
    """``torch.save`` through a temporary file and a rename (atomic)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write(buffer.getvalue(), path)


def export_backbone(checkpoint_path: str, out_path: str, keep_head: bool = True,
                    extra_meta: Optional[Mapping] = None) -> Dict[str, Any]:
    """Write the transfer file of a training checkpoint.

    Keeps ``backbone.*`` (and ``neck.*``/``head.*`` with ``keep_head``) of
    the checkpoint's ``state_dict`` -- which holds the EMA weights when
    training used ``EMAHook`` -- and drops optimizer, scheduler, message hub
    and training-only model state. Metadata: ``meta['mmdiverse']`` of the
    checkpoint if present (:class:`ExportMetaHook`), else derived from the
    stored config text, else from the weights.

    Args:
        checkpoint_path: A checkpoint saved by mmengine (or any
            mmpretrain-layout file).
        out_path: Where to write the transfer file.
        keep_head: Keep the classifier head (fine-tuning on the same
            classes); segmentation ignores it. Defaults to True.
        extra_meta: Merged into ``meta['mmdiverse']``.

    Returns:
        dict: The metadata written.
    """
    from .convert import extract_state_dict, mmpretrain_zoo
    checkpoint = safe_load(checkpoint_path, map_location='cpu')
    state_dict, _ = extract_state_dict(checkpoint)
    if not mmpretrain_zoo.detect(state_dict):
        raise ValueError(f'{checkpoint_path} is not in mmpretrain layout (no backbone.* keys); '
                         'convert it first: python tools/convert_checkpoint.py SRC DST')
    state_dict, report = mmpretrain_zoo.to_mmpretrain(state_dict)
    if not keep_head:
        state_dict = OrderedDict((k, v) for k, v in state_dict.items()
                                 if k.startswith('backbone.'))
    old_meta = checkpoint.get('meta') if isinstance(checkpoint, Mapping) else None
    old_meta = old_meta if isinstance(old_meta, Mapping) else {}
    meta = dict(old_meta.get(META_KEY) or {})
    if not meta:
        if isinstance(old_meta.get('cfg'), str):
            from mmengine.config import Config
            cfg = Config.fromstring(old_meta['cfg'], file_format='.py')
            meta = meta_from_cfg(cfg, state_dict)
        else:
            meta = describe_state_dict(state_dict)
    meta.setdefault('source', osp.basename(checkpoint_path))
    for key in ('epoch', 'iter'):
        if key in old_meta:
            meta.setdefault(f'trained_{key}s', old_meta[key])
    meta.update(extra_meta or {})
    out_meta = {META_KEY: meta}
    for key in ('dataset_meta', 'mmengine_version', 'experiment_name'):
        if key in old_meta:
            out_meta[key] = old_meta[key]
    save_checkpoint_file({'state_dict': state_dict, 'meta': out_meta}, out_path)
    return meta
