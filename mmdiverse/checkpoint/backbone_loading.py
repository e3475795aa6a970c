"""Step 4: check and load a pretrained backbone into a new model, strictly.

mmengine's ``init_cfg=dict(type='Pretrained', ...)`` loads with
``strict=False`` and only *warns* about missing, unexpected or mis-shaped
keys, so a backbone that silently stays at its random initialisation (wrong
prefix, wrong arch, a renamed layer) trains to a poor result without an
error. :func:`load_pretrained_backbone` runs every step of the checkpoint
package so that this cannot happen:

1. **Read** (:mod:`.read`): the file or URL, safely.
2. **Convert** (:mod:`.convert`): any recognised layout to the pivot layout
   (mmpretrain / mmcls / this project's files as they are, a bare backbone
   prefixed, Microsoft Swin, timm Swin / ViT / DeiT and the fork's mmseg 0.x
   segmentors renamed). The keys under ``prefix`` (``'backbone.'``) are the
   backbone's; source keys the converter cannot map count as unused keys.
3. **Adapt** (:mod:`.adapt`): relative position bias tables and absolute
   position embeddings resized to the new window / image size with the same
   functions mmpretrain's own load hooks use (so a classifier and a
   segmentor get the same tensors from one checkpoint); derived buffers
   (``relative_position_index``, ``attn_mask``) are never loaded.
4. **Check**: every backbone tensor must come from the checkpoint unless it
   matches ``new_keys``; every checkpoint tensor must be used unless it
   matches ``dropped_keys``; shapes must agree after adaptation. Otherwise
   :class:`BackboneLoadError` is raised *before* any weight is touched, with
   the offending keys listed.
5. **Load** with ``load_state_dict`` and **verify** tensor by tensor that the
   backbone now holds exactly the (adapted) checkpoint tensors, then log a
   one-line summary: ``Backbone transfer: loaded N/M tensors ...``.

mmpretrain's ``load_state_dict`` pre-hooks still run, see matching shapes and
do nothing.

Used by :class:`mmdiverse.models.segmentors.TransferEncoderDecoder` (and
``DiverseEncoderDecoder``), which take the backbone's
``init_cfg=dict(type='Pretrained', ...)`` away from mmengine and load it here.

Patterns in ``new_keys`` / ``dropped_keys`` are regular expressions matched
against the *whole* key (``re.fullmatch``) without the prefix, e.g.
``r'norm[0-2]\\..*'`` for the per-stage output norms that a classifier does
not have.
"""

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.logging import print_log

from .adapt import DERIVED_BUFFER_PATTERNS, adapt_state_dict, matches_any
from .convert import convert_state_dict, detect_format, pivot_of
from .read import META_KEY, checkpoint_meta, extract_state_dict, read_checkpoint

_MAX_LISTED = 40


class BackboneLoadError(RuntimeError):
    """The checkpoint does not fit the backbone; nothing was loaded."""


@dataclass
class TransferReport:
    """What :func:`load_pretrained_backbone` did.

    Attributes:
        checkpoint: The checkpoint path (or ``'<state dict>'``).
        backbone: Class name of the target backbone.
        source_format: Layout detected by :mod:`mmdiverse.checkpoint.convert`
            (``'mmpretrain'``, ``'swin-official'``, ``'timm-swin'``,
            ``'timm-vit'``), or ``'raw'`` (used as saved).
        prefix: The prefix the backbone keys were taken from.
        loaded: Backbone keys loaded from the checkpoint.
        adapted: ``{key: description}`` of the tensors that were resized.
        new: Backbone keys absent from the checkpoint and allowed by
            ``new_keys`` (they keep their initialisation).
        dropped: Checkpoint keys not used, allowed by ``dropped_keys``.
        derived: Backbone buffers rebuilt by the backbone (not loaded).
        outside_prefix: Checkpoint keys outside ``prefix`` (head, neck ...).
        num_backbone_tensors: Entries of the backbone's state dict.
        meta: ``meta['mmdiverse']`` of the checkpoint, when present.
    """

    checkpoint: str
    backbone: str
    source_format: str
    prefix: Optional[str]
    loaded: List[str] = field(default_factory=list)
    adapted: Dict[str, str] = field(default_factory=dict)
    new: List[str] = field(default_factory=list)
    dropped: List[str] = field(default_factory=list)
    derived: List[str] = field(default_factory=list)
    outside_prefix: List[str] = field(default_factory=list)
    num_backbone_tensors: int = 0
    meta: Optional[dict] = None

    def summary(self) -> str:
        """The one-line log message (what the training log shows)."""
        layout = (
            'mmpretrain layout'
            if self.source_format == 'mmpretrain'
            else f'{self.source_format} layout converted to mmpretrain'
            if self.source_format != 'raw'
            else 'keys as saved'
        )
        parts = [
            f'Backbone transfer: loaded {len(self.loaded)}/'
            f'{self.num_backbone_tensors} tensors of {self.backbone} from '
            f'{self.checkpoint} ({layout}, prefix {self.prefix!r}); every loaded '
            'tensor verified'
        ]
        if self.adapted:
            parts.append(
                f'{len(self.adapted)} resized: '
                + _short_list([f'{k} {v}' for k, v in self.adapted.items()], 6)
            )
        if self.new:
            parts.append(
                f'{len(self.new)} new (allowed by new_keys, not in the '
                f'checkpoint): {_short_list(self.new, 12)}'
            )
        if self.derived:
            parts.append(
                f'{len(self.derived)} derived buffers rebuilt by the backbone '
                f'(relative_position_index / attn_mask)'
            )
        if self.dropped:
            parts.append(
                f'{len(self.dropped)} checkpoint tensors dropped (allowed by '
                f'dropped_keys): {_short_list(self.dropped, 12)}'
            )
        if self.outside_prefix:
            heads = sorted({k.split('.', 1)[0] for k in self.outside_prefix})
            parts.append(
                f'{len(self.outside_prefix)} checkpoint tensors outside the '
                f'backbone ignored ({", ".join(h + ".*" for h in heads)})'
            )
        if self.meta:
            keys = ('config', 'backbone', 'arch', 'img_size', 'window_size', 'regularizers')
            parts.append(
                'pretrained as '
                + ', '.join(f'{k}={self.meta[k]!r}' for k in keys if self.meta.get(k) is not None)
            )
        return '; '.join(parts)


def _short_list(items: Sequence[str], limit: int = _MAX_LISTED) -> str:
    items = list(items)
    text = ', '.join(items[:limit])
    if len(items) > limit:
        text += f', ... ({len(items) - limit} more)'
    return text


# --------------------------------------------------------------------- read
def _read(checkpoint: str, map_location: str):
    """:func:`.read.read_checkpoint`, naming the config key of a missing file."""
    try:
        return read_checkpoint(checkpoint, map_location=map_location)
    except FileNotFoundError as error:
        raise FileNotFoundError(
            f'backbone checkpoint not found: {checkpoint}. Train the matching '
            'pretraining config first, or point model.backbone.init_cfg.checkpoint '
            'at a checkpoint (--cfg-options model.backbone.init_cfg.checkpoint=PATH).'
        ) from error


def to_backbone_state_dict(checkpoint, prefix: Optional[str] = 'backbone.'):
    """The backbone tensors of a loaded checkpoint, in mmpretrain names.

    With ``prefix='backbone.'`` (mmpretrain's layout) the state dict goes
    through :func:`mmdiverse.checkpoint.convert.convert_state_dict`, which
    recognises mmpretrain / mmcls / mmdiverse files (also bare backbones and
    the legacy Swin ``norm``), Microsoft Swin, timm Swin / ViT / DeiT files
    and the fork's mmseg 0.x segmentors, and renames their backbone keys to
    mmpretrain's layout.

    Returns:
        tuple: ``(backbone_state_dict, outside_keys, source_format,
        unmapped_keys, meta)``: tensors under ``prefix`` (prefix removed),
        the other keys, the detected layout (``'raw'`` when none was
        recognised or ``prefix`` is not ``'backbone.'``), source keys the
        converter could not map, and ``meta['mmdiverse']``.
    """
    meta = checkpoint_meta(checkpoint).get(META_KEY)
    try:
        state, _ = extract_state_dict(checkpoint)
    except (ValueError, KeyError) as error:
        raise BackboneLoadError(f'no model weights in the checkpoint: {error}') from None
    source_format, unmapped = 'raw', []
    if prefix == 'backbone.':
        try:
            source_format = detect_format(state)
        except ValueError:
            source_format = 'raw'
        if source_format != 'raw':
            state, conversion = convert_state_dict(state, src=source_format)
            # In a segmentor's file, unmapped head keys are not the backbone's.
            unmapped = [
                k
                for k in conversion.unmapped
                if pivot_of(source_format) != 'mmseg' or k.startswith(prefix)
            ]
    if prefix:
        selected = OrderedDict(
            (k[len(prefix) :], v) for k, v in state.items() if k.startswith(prefix)
        )
        outside = [k for k in state if not k.startswith(prefix)]
    else:
        selected, outside = OrderedDict(state), []
    return selected, outside, source_format, unmapped, meta


# --------------------------------------------------------------------- load
def load_pretrained_backbone(
    backbone: nn.Module,
    checkpoint: Union[str, dict],
    prefix: Optional[str] = 'backbone.',
    new_keys: Sequence[str] = (),
    dropped_keys: Sequence[str] = (),
    map_location: str = 'cpu',
    logger: Optional[str] = 'current',
) -> TransferReport:
    """Load pretrained weights into ``backbone`` or raise; never half-load.

    Args:
        backbone: The backbone module (e.g. ``model.backbone``).
        checkpoint: Path or URL (read safely), or an already loaded dict.
        prefix: Prefix of the backbone keys in the checkpoint
            (``'backbone.'`` for mmpretrain classifiers). None: the whole dict.
        new_keys: Regexes (full match, no prefix) of backbone keys that may be
            absent from the checkpoint, e.g. ``[r'norm[0-2]\\..*']``.
        dropped_keys: Regexes of checkpoint keys (after the prefix) that may
            go unused, e.g. ``[r'head\\..*']`` for flat checkpoints.
        map_location: As for ``torch.load``.
        logger: Where the summary is logged (``print_log``); None: nowhere.

    Returns:
        TransferReport

    Raises:
        BackboneLoadError: a backbone key is missing, a checkpoint key is
            unused, or a shape differs (beyond the adaptations); lists them.
        FileNotFoundError / UnsafeCheckpointError: from reading the file.
    """
    if isinstance(checkpoint, str):
        name, loaded = checkpoint, _read(checkpoint, map_location)
    else:
        name, loaded = '<state dict>', checkpoint
    state, outside, source_format, unmapped, meta = to_backbone_state_dict(loaded, prefix)
    model_state = backbone.state_dict()
    state, adapted, _, errors = adapt_state_dict(backbone, state, model_state)

    derived_model = [k for k in model_state if matches_any(k, DERIVED_BUFFER_PATTERNS)]
    missing = [k for k in model_state if k not in state and k not in derived_model]
    # Source keys the layout converter could not map count as unused.
    unexpected = [k for k in state if k not in model_state] + unmapped
    mismatched = [
        f'{k}: checkpoint {tuple(state[k].shape)} vs backbone {tuple(model_state[k].shape)}'
        for k in state
        if k in model_state and state[k].shape != model_state[k].shape
    ]
    bad_missing = [k for k in missing if not matches_any(k, new_keys)]
    bad_unexpected = [k for k in unexpected if not matches_any(k, dropped_keys)]
    loadable = [k for k in state if k in model_state]

    if bad_missing or bad_unexpected or mismatched or errors or not loadable:
        lines = [
            f'Backbone transfer from {name} into {type(backbone).__name__} failed; '
            'nothing was loaded.'
        ]
        if not loadable:
            lines.append(
                f'  No checkpoint tensor matches the backbone (prefix={prefix!r}, '
                f'{source_format} layout, keys outside the prefix e.g. '
                f'{_short_list(outside[:5], 5)}).'
            )
        if bad_missing:
            lines.append(
                f'  Missing from the checkpoint ({len(bad_missing)}): {_short_list(bad_missing)}'
            )
        if mismatched:
            lines.append(f'  Shape mismatch ({len(mismatched)}): {_short_list(mismatched)}')
        if bad_unexpected:
            lines.append(
                f'  Not in the backbone ({len(bad_unexpected)}): {_short_list(bad_unexpected)}'
            )
        lines.extend(f'  {e}' for e in errors)
        lines.append(
            '  Check the backbone arch / window / patch size against the '
            'pretraining config. Keys that are new or dropped on purpose go '
            'in model.backbone_transfer.new_keys / dropped_keys (regexes).'
        )
        raise BackboneLoadError('\n'.join(lines))

    to_load = OrderedDict((k, state[k]) for k in loadable)
    result = backbone.load_state_dict(to_load, strict=False)
    stray = [k for k in result.missing_keys if k not in missing and k not in derived_model]
    if result.unexpected_keys or stray:
        raise BackboneLoadError(
            f'Backbone transfer from {name}: load_state_dict disagreed with the key '
            f'check (unexpected {result.unexpected_keys}, missing {stray}); a load '
            'hook of the backbone renamed keys.'
        )
    after = backbone.state_dict()
    differing = [
        k
        for k, v in to_load.items()
        if not torch.equal(after[k], v.to(device=after[k].device, dtype=after[k].dtype))
    ]
    if differing:
        raise BackboneLoadError(
            f'Backbone transfer from {name}: {len(differing)} tensors differ from the '
            f'checkpoint after loading (a load hook changed them): {_short_list(differing)}'
        )

    report = TransferReport(
        checkpoint=name,
        backbone=type(backbone).__name__,
        source_format=source_format,
        prefix=prefix,
        loaded=loadable,
        adapted=adapted,
        new=missing,
        dropped=unexpected,
        derived=derived_model,
        outside_prefix=outside,
        num_backbone_tensors=len(model_state),
        meta=meta,
    )
    if logger is not None:
        print_log(report.summary(), logger=logger)
    return report
