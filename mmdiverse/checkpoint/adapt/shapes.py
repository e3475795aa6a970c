"""Step 3 of the backbone transfer: adapt tensor shapes to the new model.

``read -> convert -> adapt -> check/load -> export``: after :mod:`..convert`
has put a checkpoint in the backbone's names, :func:`adapt_state_dict`
resizes the tensors whose shape legitimately changes between pretraining and
fine-tuning -- relative position bias tables (new window size,
:mod:`.bias_table`; BEiT-layout tables with extra-token rows,
:mod:`.extra_token_bias_table`) and absolute position embeddings (new image size,
:mod:`.pos_embed`) -- and leaves out the buffers a backbone derives from its
own configuration (``relative_position_index``, ``attn_mask``). Any other
shape difference is left for the check step to report.
"""

import re
from collections import OrderedDict
from typing import Dict, Iterable, List, Optional, Tuple

import torch
import torch.nn as nn

from .bias_table import resize_relative_position_bias_table
from .extra_token_bias_table import resize_table_with_extra_rows, split_extra_rows
from .pos_embed import POS_EMBED_KEYS, resize_position_embedding

#: Buffers a backbone computes from its configuration (window size); they are
#: never loaded from a checkpoint.
DERIVED_BUFFER_PATTERNS = (r'(.*\.)?relative_position_index', r'(.*\.)?attn_mask')


def matches_any(key: str, patterns: Iterable[str]) -> bool:
    """Whether ``key`` fully matches one of the regular expressions."""
    return any(re.fullmatch(p, key) for p in patterns)


def _resized(
    backbone: nn.Module, key: str, value: torch.Tensor, target: torch.Tensor
) -> Optional[torch.Tensor]:
    """The resized tensor, or None when ``key`` is not resizable."""
    if (
        key.endswith('relative_position_bias_table')
        and value.dim() == 2
        and target.dim() == 2
        and value.shape[1] == target.shape[1]
    ):
        if split_extra_rows(target.shape[0])[1]:  # BEiT layout: extra-token rows
            return resize_table_with_extra_rows(value, target.shape[0])
        return resize_relative_position_bias_table(value, target.shape[0])
    if key in POS_EMBED_KEYS:
        return resize_position_embedding(backbone, key, value, target)
    return None


def adapt_state_dict(
    backbone: nn.Module,
    state_dict: Dict[str, torch.Tensor],
    model_state: Optional[Dict[str, torch.Tensor]] = None,
) -> Tuple['OrderedDict[str, torch.Tensor]', Dict[str, str], List[str], List[str]]:
    """Resize the tensors whose shape legitimately changes on transfer.

    Args:
        backbone: The target backbone.
        state_dict: Checkpoint tensors, already in the backbone's names.
        model_state: ``backbone.state_dict()`` (computed when omitted).

    Returns:
        tuple: ``(state_dict, adapted, derived, errors)``: the adapted copy
        without derived buffers, ``{key: 'shape -> shape'}``, the derived
        buffer keys that were skipped, and error strings (an index buffer that
        contradicts the backbone's own, a table or embedding that cannot be
        resized).
    """
    model_state = backbone.state_dict() if model_state is None else model_state
    out: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    adapted: Dict[str, str] = {}
    derived: List[str] = []
    errors: List[str] = []
    for key, value in state_dict.items():
        target = model_state.get(key)
        if matches_any(key, DERIVED_BUFFER_PATTERNS):
            derived.append(key)
            if (
                target is not None
                and key.endswith('relative_position_index')
                and target.shape == value.shape
                and not torch.equal(target, value.to(target))
            ):
                errors.append(
                    f'{key}: the checkpoint indexes its bias table differently '
                    'from this backbone (same window size, different '
                    'relative_position_index); the tables would be misread'
                )
            continue
        if target is not None and target.shape != value.shape:
            try:
                new_value = _resized(backbone, key, value, target)
            except ValueError as error:
                errors.append(
                    f'{key}: cannot resize {tuple(value.shape)} -> {tuple(target.shape)}: {error}'
                )
                new_value = None
            if new_value is not None and new_value.shape == target.shape:
                adapted[key] = f'{tuple(value.shape)} -> {tuple(target.shape)}'
                value = new_value
        out[key] = value
    return out, adapted, derived, errors
