"""Step 5: write checkpoint files -- transfer exports and converted checkpoints.

``read -> convert -> adapt -> check/load -> export``. Two writers:

* :func:`export_backbone`: the transfer file of a training checkpoint;
* :func:`convert_checkpoint`: a third-party file (Microsoft / timm Swin, timm
  ViT, the Patch-Diversification fork's mmseg 0.x UperNet) converted to the
  layout our configs load (``tools/convert_checkpoint.py``).

Both write through :func:`save_checkpoint_file` (atomic: temporary file and
rename).

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
from collections import OrderedDict
from typing import Any, Dict, Mapping, Optional

import torch

from .atomic_writes import write_checkpoint_bytes
from .convert import ConversionReport, convert_state_dict, mmpretrain_zoo
from .metadata import (
    META_KEY,
    describe_backbone,
    describe_state_dict,
    meta_from_cfg,
    regularizers_from_cfg,
)
from .read import checkpoint_meta, extract_state_dict, read_checkpoint


def save_checkpoint_file(obj: Any, path: str) -> None:
    """``torch.save`` through a temporary file and a rename (atomic), with its digest."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_checkpoint_bytes(buffer.getvalue(), path)


def export_backbone(
    checkpoint_path: str,
    out_path: str,
    keep_head: bool = True,
    extra_meta: Optional[Mapping] = None,
) -> Dict[str, Any]:
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
    checkpoint = read_checkpoint(checkpoint_path)
    state_dict, _ = extract_state_dict(checkpoint)
    if not mmpretrain_zoo.detect(state_dict):
        raise ValueError(
            f'{checkpoint_path} is not in mmpretrain layout (no backbone.* keys); '
            'convert it first: python tools/convert_checkpoint.py SRC DST'
        )
    state_dict, report = mmpretrain_zoo.to_mmpretrain(state_dict)
    if not keep_head:
        state_dict = OrderedDict((k, v) for k, v in state_dict.items() if k.startswith('backbone.'))
    old_meta = checkpoint_meta(checkpoint)
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


def container_for(dst: str, state_dict: Dict[str, torch.Tensor], meta: Dict) -> Any:
    """The file structure each format's own loader expects."""
    if dst in ('mmpretrain', 'mmseg'):
        return {'state_dict': state_dict, 'meta': meta}
    if dst == 'swin-official':
        return {'model': state_dict}
    return state_dict  # timm: a flat state dict


def convert_checkpoint(
    src_path: str, dst_path: str, src: str = 'auto', dst: str = 'auto', key: Optional[str] = None
) -> ConversionReport:
    """Convert the file ``src_path`` and write ``dst_path``.

    Args:
        src_path, dst_path: Input and output files.
        src: Source format or ``'auto'`` (detected from the keys).
        dst: Target format; ``'auto'``: ``'mmseg'`` for segmentation
            checkpoints, else ``'mmpretrain'`` (the layouts our configs load).
        key: Entry of the input holding the weights (default: found).

    mmpretrain- and mmseg-layout outputs are ``{'state_dict': ..., 'meta':
    {'mmdiverse': ...}}`` with the source recorded (and, for classifiers, the
    architecture read from the weights, :func:`describe_state_dict`); a file
    converted from this project's own checkpoints keeps their metadata. The
    output is written even when some keys could not be mapped: the report
    lists them, and ``tools/convert_checkpoint.py`` fails on them.
    """
    checkpoint = read_checkpoint(src_path)
    state_dict, _ = extract_state_dict(checkpoint, key)
    out, report = convert_state_dict(state_dict, src, dst)
    meta: Dict[str, Any] = {}
    if report.dst_format in ('mmpretrain', 'mmseg'):
        info = dict(checkpoint_meta(checkpoint).get(META_KEY) or {})
        if not info:
            info = describe_state_dict(out) if report.dst_format == 'mmpretrain' else {}
            info['regularizers'] = None  # unknown for third-party weights
        info.setdefault('source', osp.basename(src_path))
        info['converted_from'] = report.src_format
        meta = {META_KEY: info}
    save_checkpoint_file(container_for(report.dst_format, out, meta), dst_path)
    return report


__all__ = [
    'META_KEY',
    'container_for',
    'convert_checkpoint',
    'describe_backbone',
    'describe_state_dict',
    'export_backbone',
    'meta_from_cfg',
    'regularizers_from_cfg',
    'save_checkpoint_file',
]
