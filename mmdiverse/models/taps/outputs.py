"""What a tap is asked to capture and what it recorded.

:class:`CaptureRequest` is the resolved form of the arguments of
:meth:`~mmdiverse.models.taps.BaseTap.capture`; :class:`TapOutputs` is
filled by the hooks during the backbone's forward pass.
"""

import dataclasses
from typing import Callable, Dict, Optional, Tuple, Union

import torch

#: ``per_layer`` may be a callable ``fn(block_index, tokens, hw)`` that is
#: called from inside the forward pass instead of storing every block's
#: tokens (what a similarity hook needs on large models).
PerLayerCallback = Callable[[int, torch.Tensor, Tuple[int, int]], None]


@dataclasses.dataclass(frozen=True)
class CaptureRequest:
    """The captures one :meth:`BaseTap.capture` installs hooks for.

    Attributes:
        first (bool): Record :attr:`TapOutputs.first`.
        last (bool): Record :attr:`TapOutputs.last`.
        pre_norm (bool): Record :attr:`TapOutputs.last_pre_norm`.
        attn_layers (tuple[int]): Blocks whose attention is recorded (only
            they leave fused attention).
        per_layer (bool | callable): Record every block's output, or hand
            it to this callback.
    """

    first: bool = True
    last: bool = True
    pre_norm: bool = False
    attn_layers: Tuple[int, ...] = ()
    per_layer: Union[bool, PerLayerCallback] = False


@dataclasses.dataclass
class TapOutputs:
    """What one :meth:`BaseTap.capture` recorded during a forward pass.

    Tokens are ``(B, n, d)`` patch tokens in row-major grid order (class,
    distillation and register tokens removed) and keep their autograd graph.

    Attributes:
        first: Tokens entering the ``first_layer`` block. For ViT / DeiT with
            block 0 this is ``pre_norm(pos_drop(patch_embed(x) +
            pos_embed))`` without the class tokens (``pre_norm`` is the
            identity in DeiT), the "first" of Diverse-ViT's contrastive term
            (Chen et al. 2022).
        last: Tokens of the last block as the classifier head sees them
            (after the backbone's final norm).
        last_pre_norm: The last block's output *before* the final norm
            (Diverse-ViT's "last" for the cosine and contrastive terms,
            ``diversity.tap.similarity_tokens='pre_norm'``, see
            docs/fidelity.md); on the grid ``last_hw``. Recorded only when
            asked for (``capture(pre_norm=True)``).
        first_hw: Grid ``(h, w)`` of ``first`` (None when the tokens are not
            a grid: MAE's visible tokens).
        last_hw: Grid ``(h, w)`` of ``last`` (and ``last_pre_norm``; None
            as ``first_hw``).
        attn: ``{block_index: probabilities}``; ``(B, H, N, N)`` for global
            attention (``N`` includes class tokens), ``(B * nW, H, w*w, w*w)``
            for Swin window attention.
        per_layer: ``{block_index: tokens}`` output of every block (before
            any final norm), when requested.
        per_layer_hw: ``{block_index: (h, w)}`` grids of ``per_layer``
            (None for a token set that is not a grid, e.g. MAE's visible
            tokens).
    """

    first: Optional[torch.Tensor] = None
    last: Optional[torch.Tensor] = None
    last_pre_norm: Optional[torch.Tensor] = None
    first_hw: Optional[Tuple[int, int]] = None
    last_hw: Optional[Tuple[int, int]] = None
    attn: Dict[int, torch.Tensor] = dataclasses.field(default_factory=dict)
    per_layer: Dict[int, torch.Tensor] = dataclasses.field(default_factory=dict)
    per_layer_hw: Dict[int, Tuple[int, int]] = dataclasses.field(default_factory=dict)

    def per_layer_sink(self, per_layer: Union[bool, PerLayerCallback]) -> PerLayerCallback:
        """Where block outputs go: ``per_layer`` itself when it is a
        callable, else a function storing them in :attr:`per_layer` and
        :attr:`per_layer_hw`."""
        if callable(per_layer):
            return per_layer

        def store(index: int, tokens: torch.Tensor, hw) -> None:
            self.per_layer[index] = tokens
            self.per_layer_hw[index] = None if hw is None else (int(hw[0]), int(hw[1]))

        return store
