"""Rule tables shared by the Microsoft and timm Swin layouts.

Both name blocks ``layers.{stage}.blocks.{block}`` with ``attn.qkv``,
``attn.proj``, ``mlp.fc1``, ``mlp.fc2``; mmpretrain (and mmseg) use
``stages.{stage}.blocks.{block}`` with ``attn.w_msa.*`` and mmcv's ``FFN``
(``ffn.layers.0.0``, ``ffn.layers.1``). They differ in where the patch
merging lives (Microsoft: end of stage ``s``; timm >= 0.9: start of stage
``s + 1``; mmpretrain: end of stage ``s``), in the head (``head`` vs
``head.fc``) and in which buffers they save. Patch-merging tensors are
reordered (:func:`~.common.merge_order_to_unfold`); everything else is
copied unchanged.
"""

import re
from collections import OrderedDict
from typing import List, Mapping, Tuple

from .common import (
    ConversionReport,
    Rule,
    StateDict,
    Tensor,
    apply_rules,
    count_indices,
    merge_order_to_unfold,
    relative_position_index,
    unfold_order_to_merge,
    window_of_table,
)

MERGE_NOTE = 'patch-merging channels reordered'
_BLOCK = 'layers.{s}.blocks.{b}.'
_MMP_BLOCK = 'backbone.stages.{s}.blocks.{b}.'


def swin_block_rules(downsample_stage: str, with_index: bool, prefix: str = '') -> List[Rule]:
    """Rules of the patch embedding, the blocks and the patch merging.

    Args:
        downsample_stage: ``'{s}'`` (Microsoft) or ``'{s+1}'`` (timm): the
            source stage holding the patch merging after mmpretrain stage s.
        with_index: Map the relative position index buffers (saved by the
            Microsoft code, not by timm).
        prefix: Prefix of the source keys (``'backbone.'`` in a segmentor).
    """
    merge = dict(forward=merge_order_to_unfold, backward=unfold_order_to_merge, note=MERGE_NOTE)
    block, down = prefix + _BLOCK, f'{prefix}layers.{downsample_stage}.downsample.'
    rules = [
        Rule(prefix + 'patch_embed.proj.{p}', 'backbone.patch_embed.projection.{p}'),
        Rule(prefix + 'patch_embed.norm.{p}', 'backbone.patch_embed.norm.{p}'),
        Rule(block + 'norm1.{p}', _MMP_BLOCK + 'norm1.{p}'),
        Rule(
            block + 'attn.relative_position_bias_table',
            _MMP_BLOCK + 'attn.w_msa.relative_position_bias_table',
        ),
        Rule(block + 'attn.qkv.{p}', _MMP_BLOCK + 'attn.w_msa.qkv.{p}'),
        Rule(block + 'attn.proj.{p}', _MMP_BLOCK + 'attn.w_msa.proj.{p}'),
        Rule(block + 'norm2.{p}', _MMP_BLOCK + 'norm2.{p}'),
        Rule(block + 'mlp.fc1.{p}', _MMP_BLOCK + 'ffn.layers.0.0.{p}'),
        Rule(block + 'mlp.fc2.{p}', _MMP_BLOCK + 'ffn.layers.1.{p}'),
        Rule(down + 'reduction.weight', 'backbone.stages.{s}.downsample.reduction.weight', **merge),
        Rule(down + 'norm.{p}', 'backbone.stages.{s}.downsample.norm.{p}', **merge),
    ]
    if with_index:
        rules.append(
            Rule(
                block + 'attn.relative_position_index',
                _MMP_BLOCK + 'attn.w_msa.relative_position_index',
            )
        )
    return rules


def swin_rules(downsample_stage: str, head: str, with_index: bool) -> List[Rule]:
    """The rule table of a Swin classifier layout.

    Args:
        downsample_stage, with_index: As for :func:`swin_block_rules`.
        head: Source name of the classifier (``'head'`` or ``'head.fc'``).
    """
    return [
        *swin_block_rules(downsample_stage, with_index),
        Rule('absolute_pos_embed', 'backbone.absolute_pos_embed'),
        Rule('norm.{p}', 'backbone.norm{last}.{p}'),
        Rule(head + '.{p}', 'head.fc.{p}'),
    ]


ATTN_MASK = (r'(^|\.)attn_mask$', 'shifted-window mask: mmpretrain computes it')


def to_mmpretrain(
    state_dict: Mapping[str, Tensor], rules: List[Rule], drops, name: str
) -> Tuple[StateDict, ConversionReport]:
    context = dict(last=count_indices(state_dict, r'layers\.(\d+)\.') - 1)
    out, report = apply_rules(state_dict, rules, drops, context, name, 'mmpretrain')
    return add_relative_position_index(out, report)


def from_mmpretrain(
    state_dict: Mapping[str, Tensor], rules: List[Rule], drops, name: str
) -> Tuple[StateDict, ConversionReport]:
    context = dict(last=count_indices(state_dict, r'backbone\.stages\.(\d+)\.') - 1)
    return apply_rules(state_dict, rules, drops, context, 'mmpretrain', name, reverse=True)


def add_relative_position_index(state_dict: StateDict, report: ConversionReport):
    """Give every window attention its ``relative_position_index`` buffer.

    mmpretrain saves (and expects) it; the layouts that do not save it get
    it computed from the bias table's window size, so the converted file
    loads with no missing keys.
    """
    out = OrderedDict()
    for key, value in state_dict.items():
        out[key] = value
        if not key.endswith('w_msa.relative_position_bias_table'):
            continue
        index_key = re.sub(r'bias_table$', 'index', key)
        if index_key not in state_dict:
            out[index_key] = relative_position_index(window_of_table(value))
            report.added.append((index_key, "computed from the bias table's window size"))
    return out, report
