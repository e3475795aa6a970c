"""mmpretrain (and mmcls) model-zoo files, and this project's own checkpoints.

These already use the layout our configs load (``backbone.*``, ``neck.*``,
``head.*`` of an ``ImageClassifier``), so tensors are copied unchanged. The
conversion normalises what older or training-time files carry:

* ``module.`` prefixes (DDP) are removed (done for every format);
* files holding a bare backbone (``patch_embed.projection.weight`` without
  a ``backbone.`` prefix) get the prefix;
* Swin files written before mmpretrain's checkpoint version 2 name the
  final norm ``backbone.norm``: renamed ``backbone.norm{last stage}``;
* dropped: ``attn_mask`` buffers (Swin < version 3), mmcv-1.x EMA shadow
  buffers (``ema_*``), the data preprocessor, and anything outside the
  backbone/neck/head such as the diversity regularizer's power-iteration
  state (``diversity.*``) -- training-only state, not part of the model a
  transfer config builds.
"""

import re
from collections import OrderedDict
from typing import Mapping, Tuple

from .common import ConversionReport, StateDict, Tensor, count_indices

NAME = 'mmpretrain'
MODEL_PARTS = ('backbone.', 'neck.', 'head.')
DROPS = [
    (r'(^|\.)attn_mask$', 'shifted-window mask: mmpretrain computes it'),
    (r'^ema_', 'EMA shadow buffer of mmcv 1.x EMAHook'),
    (r'^data_preprocessor\.', 'data preprocessor state'),
]


def detect(state_dict: Mapping[str, Tensor]) -> bool:
    return (
        any(k.startswith('backbone.') for k in state_dict)
        or 'patch_embed.projection.weight' in state_dict
    )


def _normalise(state_dict: Mapping[str, Tensor], src: str, dst: str):
    report = ConversionReport(src, dst)
    if not any(k.startswith('backbone.') for k in state_dict):
        state_dict = OrderedDict((f'backbone.{k}', v) for k, v in state_dict.items())
        renamed = {f'backbone.{k}': k for k in state_dict}
    else:
        renamed = {}
    stages = count_indices(state_dict, r'backbone\.stages\.(\d+)\.')
    old_swin_norm = stages and not any(re.match(r'backbone\.norm\d+\.', k) for k in state_dict)
    out: StateDict = OrderedDict()
    for key, value in state_dict.items():
        origin = renamed.get(key, key)
        reason = next((why for pattern, why in DROPS if re.search(pattern, key)), None)
        if reason is None and not key.startswith(MODEL_PARTS):
            reason = 'not part of backbone/neck/head (training-only state)'
        if reason is not None:
            report.dropped.append((origin, reason))
            continue
        new_key = key
        if old_swin_norm and key.startswith('backbone.norm.'):
            new_key = key.replace('backbone.norm.', f'backbone.norm{stages - 1}.', 1)
        out[new_key] = value
        report.mapped.append((origin, new_key, ''))
    return out, report


def to_mmpretrain(state_dict: Mapping[str, Tensor]) -> Tuple[StateDict, ConversionReport]:
    """Normalise an mmpretrain-layout state dict (see the module docstring)."""
    return _normalise(state_dict, NAME, 'mmpretrain')


def from_mmpretrain(state_dict: Mapping[str, Tensor]) -> Tuple[StateDict, ConversionReport]:
    return _normalise(state_dict, 'mmpretrain', NAME)
