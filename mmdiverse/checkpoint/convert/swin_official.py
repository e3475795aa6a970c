"""Microsoft's Swin Transformer checkpoints <-> mmpretrain.

The files of https://github.com/microsoft/Swin-Transformer (e.g.
``swin_large_patch4_window12_384_22k.pth``) hold ``{'model': state_dict}``
with keys ``layers.{s}.blocks.{b}.*``, the patch merging at the end of stage
``s`` (``layers.{s}.downsample``), a ``head`` Linear and two buffers per
block: ``relative_position_index`` (mapped) and, in shifted blocks,
``attn_mask`` (dropped: mmpretrain computes the mask from the input size).
See :mod:`._swin` for the key mapping.
"""

import re
from typing import Mapping, Tuple

from . import _swin
from .common import ConversionReport, StateDict, Tensor

NAME = 'swin-official'
RULES = _swin.swin_rules(downsample_stage='{s}', head='head', with_index=True)
DROPS = [_swin.ATTN_MASK]


def detect(state_dict: Mapping[str, Tensor]) -> bool:
    keys = set(state_dict)
    if 'layers.0.blocks.0.attn.relative_position_bias_table' not in keys:
        return False
    if any(k.startswith('layers.0.downsample.') for k in keys):
        return True
    if any(re.match(r'layers\.\d+\.downsample\.', k) for k in keys) or 'head.fc.weight' in keys:
        return False  # timm
    return (
        any(k.endswith(('relative_position_index', 'attn_mask')) for k in keys)
        or 'head.weight' in keys
    )


def to_mmpretrain(state_dict: Mapping[str, Tensor]) -> Tuple[StateDict, ConversionReport]:
    """Microsoft keys -> mmpretrain ``ImageClassifier`` keys."""
    return _swin.to_mmpretrain(state_dict, RULES, DROPS, NAME)


def from_mmpretrain(state_dict: Mapping[str, Tensor]) -> Tuple[StateDict, ConversionReport]:
    """mmpretrain keys -> Microsoft keys (``attn_mask`` is not recreated:
    the Microsoft code loads its checkpoints with ``strict=False``)."""
    return _swin.from_mmpretrain(state_dict, RULES, (), NAME)
