"""mmseg 0.x ``EncoderDecoder`` with a Microsoft-Swin backbone <-> our mmseg 1.x layout.

The Patch-Diversification fork (Gong et al. 2021; its ``swin-segmentation/``
code is mmseg 0.11 with the Swin-Transformer-Semantic-Segmentation backbone)
released UperNet checkpoints for ADE20K and Cityscapes saved by mmcv 1.x:
``{'meta': ..., 'state_dict': ..., 'optimizer': ...}`` with

* ``backbone.*``: Microsoft Swin names (``backbone.patch_embed.proj``,
  ``backbone.layers.{s}.blocks.{b}.attn.qkv`` ..., the patch merging at the
  end of stage ``s``, a persistent ``relative_position_index`` per block, no
  ``attn_mask`` buffer) and one output norm per stage, ``backbone.norm{i}``;
  with ``ape=True`` an ``absolute_pos_embed`` of shape ``(1, C, H, W)``;
* ``decode_head.*``: mmseg's ``UPerHead`` (``psp_modules``, ``bottleneck``,
  ``lateral_convs``, ``fpn_convs``, ``fpn_bottleneck``, ``conv_seg``);
* ``auxiliary_head.*``: mmseg's ``FCNHead`` (``convs``, ``conv_cat``,
  ``conv_seg``).

Our segmentation configs (``configs/seg/upernet_swin_l_*.py``) build mmseg
1.x's ``UPerHead`` / ``FCNHead``, whose parameter names are those of 0.x
(every ``ConvModule`` is ``.conv`` + ``.bn``), on mmpretrain's
``SwinTransformer``: the heads are copied, the backbone is renamed like
:mod:`.swin_official` (with the patch-merging channels reordered). Keys of
any other head structure are not mapped: the report lists them and
``tools/convert_checkpoint.py`` fails.
"""

from typing import List, Mapping, Tuple

from . import _swin
from .common import ConversionReport, Rule, StateDict, Tensor, apply_rules

NAME = 'mmseg0-swin'
PIVOT = 'mmseg'
APE_NOTE = 'absolute_pos_embed (1, C, H, W) -> (1, H*W, C)'


def _ape_to_tokens(x: Tensor) -> Tensor:
    """``(1, C, H, W)`` (the fork's Swin) -> ``(1, H * W, C)`` (mmpretrain)."""
    return x.flatten(2).transpose(1, 2).contiguous() if x.dim() == 4 else x


def _ape_to_grid(x: Tensor) -> Tensor:
    """Inverse of :func:`_ape_to_tokens` (square grids)."""
    side = round(x.shape[1] ** 0.5)
    return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], side, side).contiguous()


def _conv_module(name: str) -> List[Rule]:
    """mmcv's ``ConvModule`` (convolution + norm) under ``name``, copied."""
    return [Rule(f'{name}.{part}.{{p}}', f'{name}.{part}.{{p}}') for part in ('conv', 'bn')]


def _head_rules() -> List[Rule]:
    rules = []
    for head in ('decode_head', 'auxiliary_head'):
        rules.append(Rule(f'{head}.conv_seg.{{p}}', f'{head}.conv_seg.{{p}}'))
    for name in (
        'decode_head.psp_modules.{i}.1',
        'decode_head.bottleneck',
        'decode_head.lateral_convs.{i}',
        'decode_head.fpn_convs.{i}',
        'decode_head.fpn_bottleneck',
        'auxiliary_head.convs.{i}',
        'auxiliary_head.conv_cat',
    ):
        rules += _conv_module(name)
    return rules


RULES = [
    *_swin.swin_block_rules(downsample_stage='{s}', with_index=True, prefix='backbone.'),
    Rule(
        'backbone.absolute_pos_embed',
        'backbone.absolute_pos_embed',
        forward=_ape_to_tokens,
        backward=_ape_to_grid,
        note=APE_NOTE,
    ),
    Rule('backbone.norm{i}.{p}', 'backbone.norm{i}.{p}'),
    *_head_rules(),
]
DROPS = [_swin.ATTN_MASK]


def detect(state_dict: Mapping[str, Tensor]) -> bool:
    return 'backbone.layers.0.blocks.0.attn.relative_position_bias_table' in state_dict and any(
        k.startswith('decode_head.') for k in state_dict
    )


def to_mmseg(state_dict: Mapping[str, Tensor]) -> Tuple[StateDict, ConversionReport]:
    """mmseg 0.x fork keys -> our mmseg 1.x segmentor keys."""
    out, report = apply_rules(state_dict, RULES, DROPS, {}, NAME, PIVOT)
    return _swin.add_relative_position_index(out, report)


def from_mmseg(state_dict: Mapping[str, Tensor]) -> Tuple[StateDict, ConversionReport]:
    """Our mmseg 1.x segmentor keys -> the fork's mmseg 0.x keys."""
    return apply_rules(state_dict, RULES, (), {}, PIVOT, NAME, reverse=True)
