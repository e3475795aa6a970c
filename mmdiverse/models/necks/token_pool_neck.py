"""Pool the token sequence of a timm ViT into one feature per image."""

from typing import Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmpretrain.registry import MODELS


@MODELS.register_module()
class TokenPoolNeck(nn.Module):
    """Class token or mean patch token of ``(B, N, C)`` token sequences.

    mmpretrain's ``TIMMBackbone`` returns a timm ViT/DeiT's unpooled tokens
    ``(B, N, C)`` (``N = num_prefix_tokens + h * w``), which mmpretrain's
    necks (``GlobalAveragePooling`` expects maps) cannot reduce. This neck
    does what the timm model's own head would (``global_pool='token'`` or
    ``'avg'``). It has no parameters, so the patch-mixing term, which applies
    the head's linear layer to every patch token, stays exact.

    Example::

        backbone=dict(type='TIMMBackbone', model_name='deit_small_patch16_224',
                      num_classes=0, global_pool=''),
        neck=dict(type='TokenPoolNeck', mode='token', num_prefix_tokens=1),

    Args:
        mode (str): ``'token'`` (the first token, the class token) or
            ``'avg'`` (mean of the tokens after the prefix tokens).
        num_prefix_tokens (int): Leading class / distillation / register
            tokens (``timm_model.num_prefix_tokens``). Defaults to 1.
    """

    def __init__(self, mode: str = 'token', num_prefix_tokens: int = 1):
        super().__init__()
        if mode not in ('token', 'avg'):
            raise ValueError(f"TokenPoolNeck.mode must be 'token' or 'avg', got {mode!r}")
        if mode == 'token' and num_prefix_tokens < 1:
            raise ValueError(
                "TokenPoolNeck: mode='token' needs num_prefix_tokens >= 1 "
                "(the model has no class token; use mode='avg')"
            )
        self.mode = mode
        self.num_prefix_tokens = num_prefix_tokens

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, N, C)`` -> ``(B, C)``."""
        if tokens.dim() != 3:
            raise ValueError(
                f'TokenPoolNeck expects (B, N, C) tokens, got shape {tuple(tokens.shape)}'
            )
        if self.mode == 'token':
            return tokens[:, 0]
        return tokens[:, self.num_prefix_tokens :].mean(dim=1)

    def forward(
        self, inputs: Union[torch.Tensor, Sequence[torch.Tensor]]
    ) -> Union[torch.Tensor, Tuple[torch.Tensor, ...]]:
        if isinstance(inputs, torch.Tensor):
            return self.pool(inputs)
        return tuple(self.pool(tokens) for tokens in inputs)
