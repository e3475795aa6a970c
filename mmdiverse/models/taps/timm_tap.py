"""The tap family of timm models wrapped by mmpretrain ``TIMMBackbone``.

A timm model is either ViT-like (patch tokens, :class:`TimmViTTap`) or a
CNN (feature maps, :class:`TimmCNNTap`). ``TimmTap`` is what type inference
and ``tap=dict(type='TimmTap')`` name; :func:`build_tap` then builds the
member of the model's kind (:meth:`TimmTap.select`).
"""

from typing import Dict, Optional, Tuple

import torch.nn as nn

from .base import BaseTap
from .builder import register_tap

#: Attributes that make a timm model ViT-like for the taps.
TOKEN_MODEL_ATTRS = ('patch_embed', 'blocks', 'norm', 'num_prefix_tokens')


def is_timm_token_model(model: nn.Module) -> bool:
    """Whether the timm ``model`` has ViT-like patch tokens."""
    return all(hasattr(model, a) for a in TOKEN_MODEL_ATTRS)


@register_tap(priority=30)
class TimmTap(BaseTap):
    """Family of the taps of ``TIMMBackbone(model_name=...)``.

    Layer names are relative to ``backbone.timm_model``. Models whose tokens
    are neither ViT-like nor feature maps (e.g. timm Swin's NHWC maps) are
    not supported.

    Attributes:
        is_token_model (bool): True for :class:`TimmViTTap`, False for
            :class:`TimmCNNTap`. A subclass that sets it is the kind
            :meth:`select` returns for that value.
    """

    is_token_model: bool
    #: ``{is_token_model: kind}``, filled as the kinds are defined.
    _kinds: Dict[bool, type] = {}

    def __init__(self, backbone: nn.Module, *args, **kwargs):
        if type(self) is TimmTap:
            raise TypeError(
                'TimmTap is the family of TimmViTTap and '
                'TimmCNNTap: build it with build_tap(), which '
                'picks the kind of the timm model, or construct '
                'one of those'
            )
        super().__init__(backbone, *args, **kwargs)

    @classmethod
    def matches(cls, backbone: nn.Module) -> bool:
        from mmpretrain.models.backbones import TIMMBackbone

        return isinstance(backbone, TIMMBackbone)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if 'is_token_model' in cls.__dict__:  # a kind, not a further base
            TimmTap._kinds[cls.is_token_model] = cls

    @classmethod
    def select(cls, backbone: nn.Module) -> type:
        """The kind of the timm model: :class:`TimmViTTap` for a
        ViT-like one, else :class:`TimmCNNTap`."""
        if cls is not TimmTap:
            return cls
        model = getattr(backbone, 'timm_model', None)
        return TimmTap._kinds[model is not None and is_timm_token_model(model)]

    @property
    def timm_model(self) -> nn.Module:
        return self.backbone.timm_model

    def token_stride(self) -> Optional[Tuple[int, int]]:
        """The last feature's ``reduction`` from timm's ``feature_info``."""
        info = getattr(self.timm_model, 'feature_info', None)
        if callable(getattr(info, 'reduction', None)):  # features_only
            reduction = info.reduction()[-1]
        elif isinstance(info, list) and info and 'reduction' in info[-1]:
            reduction = info[-1]['reduction']
        else:
            return None
        return int(reduction), int(reduction)
