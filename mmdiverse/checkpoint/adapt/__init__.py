"""Adapt step: shapes that change between pretraining and transfer."""

from .bias_table import geometric_offsets, resize_relative_position_bias_table
from .pos_embed import POS_EMBED_KEYS, resize_position_embedding
from .shapes import DERIVED_BUFFER_PATTERNS, adapt_state_dict, matches_any

__all__ = [
    'DERIVED_BUFFER_PATTERNS',
    'POS_EMBED_KEYS',
    'adapt_state_dict',
    'geometric_offsets',
    'matches_any',
    'resize_position_embedding',
    'resize_relative_position_bias_table',
]
