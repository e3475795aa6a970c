"""timm ``SwinTransformer`` (timm >= 0.9 layout) <-> mmpretrain.

timm keeps the patch merging at the *start* of the next stage
(``layers.{s+1}.downsample``), names the classifier ``head.fc`` and saves no
buffers (``relative_position_index`` and ``attn_mask`` are non-persistent):
the converter computes the index mmpretrain expects from the bias table.
Older timm files (< 0.9) have the Microsoft layout: use ``swin-official``
(the automatic detection tells them apart). See :mod:`._swin`.
"""

from typing import Mapping, Tuple

from . import _swin
from .common import ConversionReport, StateDict, Tensor

NAME = 'timm-swin'
RULES = _swin.swin_rules(downsample_stage='{s+1}', head='head.fc', with_index=False)
DROPS = [_swin.ATTN_MASK, (r'relative_position_index$', 'buffer: recomputed from the bias table')]
REVERSE_DROPS = [(r'relative_position_index$', 'timm does not save this buffer')]


def detect(state_dict: Mapping[str, Tensor]) -> bool:
    from . import swin_official

    return (
        'layers.0.blocks.0.attn.relative_position_bias_table' in state_dict
        and not swin_official.detect(state_dict)
    )


def to_mmpretrain(state_dict: Mapping[str, Tensor]) -> Tuple[StateDict, ConversionReport]:
    """timm keys -> mmpretrain ``ImageClassifier`` keys."""
    return _swin.to_mmpretrain(state_dict, RULES, DROPS, NAME)


def from_mmpretrain(state_dict: Mapping[str, Tensor]) -> Tuple[StateDict, ConversionReport]:
    """mmpretrain keys -> timm keys."""
    return _swin.from_mmpretrain(state_dict, RULES, REVERSE_DROPS, NAME)
