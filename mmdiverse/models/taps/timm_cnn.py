"""Tap for convolutional timm models (ResNet, ...) in ``TIMMBackbone``."""

from typing import Optional, Tuple

import torch.nn as nn

from .builder import register_tap
from .cnn import CNNTap
from .timm_tap import TimmTap


@register_tap(infer=False)
class TimmCNNTap(TimmTap, CNNTap):
    """Tap of a convolutional timm model: :class:`CNNTap` on the backbone's
    last output feature map, with blocks and layer names taken from
    ``backbone.timm_model``.

    ``features_only=False`` with the classifier removed returns the unpooled
    map; ``features_only=True`` returns a pyramid whose last level is used.
    The token stride is read from timm's ``feature_info``.
    """

    is_token_model = False

    def _root(self) -> nn.Module:
        return self.timm_model

    def input_size(self) -> Optional[Tuple[int, int]]:
        return None  # a CNN takes any size
