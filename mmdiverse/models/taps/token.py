"""The token tap shared by ViT-like backbones (mmpretrain ViT / DeiT, timm).

A ViT-like backbone is a patch embedding, a sequence of blocks over
``(B, P + n, d)`` tokens (``P`` leading class / distillation / register
tokens, ``n`` patch tokens) and an optional final norm. :class:`TokenTap`
holds everything that follows from that; a backbone family only says where
those parts are and how its attention can be captured.
"""

from typing import Callable, Dict, List, Optional

import torch.nn as nn

from .base import BaseTap
from .hooks import HookSet
from .outputs import CaptureRequest, TapOutputs


class TokenTap(BaseTap):
    """Tap of a ViT-like backbone.

    Blocks are ``{block_prefix}.0`` ... ``{block_prefix}.{L-1}``; the
    ``num_prefix_tokens`` leading tokens are dropped from every token tap.

    * ``first``: the tokens entering block ``first_layer`` (default 0: the
      patch embedding plus position embedding; alias ``'patch_embed'``).
    * ``last``: the output of the final norm, or of the last block when
      the backbone has none.
    * ``last_pre_norm``: the output of the last block, before the final
      norm (Diverse-ViT's "last", Chen et al. 2022).
    * ``attn``: the ``(B, H, N, N)`` probabilities of the chosen blocks
      (``N`` counts the prefix tokens); only those blocks leave fused
      attention, and only inside ``capture()``.
    * ``qkv_weights``: every block's fused ``qkv`` as its q, k, v parts.

    Subclasses define :attr:`blocks`, :attr:`block_prefix`,
    :attr:`num_prefix_tokens`, :meth:`final_norm`, :meth:`_install_grid`
    and the attention pair :attr:`capture_attention` /
    :attr:`check_attention`, two ``staticmethod`` s of
    :mod:`mmdiverse.models.taps.attention`.
    """

    supports_attention = True
    supports_weights = True
    supports_pre_norm = True
    #: ``(attention module, store) -> undo``: explicit attention for one block.
    capture_attention: Callable
    #: ``(attention module, where) -> None``: raise if it cannot be captured.
    check_attention: Callable
    #: Name of the block container (``'layers'``, ``'blocks'``).
    block_prefix: str

    # ------------------------------------------------------ per family
    @property
    def blocks(self) -> nn.Module:
        """The blocks (``nn.ModuleList`` / ``nn.Sequential``)."""
        raise NotImplementedError

    @property
    def num_prefix_tokens(self) -> int:
        """Leading non-patch tokens (class, distillation, register)."""
        raise NotImplementedError

    def final_norm(self) -> Optional[nn.Module]:
        """The norm applied after the last block, or None."""
        raise NotImplementedError

    def _install_grid(self, hooks: HookSet, state: Dict) -> None:
        """Install a hook setting ``state['hw']`` to the ``(h, w)`` patch
        grid of each forward pass (plain ints: no tensor is read)."""
        raise NotImplementedError

    # ------------------------------------------------------------ shared
    def block_names(self) -> List[str]:
        return [f'{self.block_prefix}.{i}' for i in range(len(self.blocks))]

    def layer_aliases(self):
        return {'patch_embed': 0}

    def _check_attention_layer(self, index: int) -> None:
        self.check_attention(
            self.blocks[index].attn, f'{self.cfg_key}.attn_layers: {self.layer_names[index]}'
        )

    def _install(self, hooks: HookSet, out: TapOutputs, request: CaptureRequest) -> None:
        blocks = self.blocks
        skip = self.num_prefix_tokens
        state = {'hw': None}
        self._install_grid(hooks, state)

        if request.first:

            def on_first(_module, args):
                out.first = args[0][:, skip:]
                out.first_hw = state['hw']

            hooks.pre_hook(blocks[self.first_layer], on_first)

        if request.last:
            norm = self.final_norm()

            def on_last(_module, _args, output):
                out.last = output[:, skip:]
                out.last_hw = state['hw']

            hooks.forward_hook(blocks[-1] if norm is None else norm, on_last)

        if request.pre_norm:

            def on_pre_norm(_module, _args, output):
                out.last_pre_norm = output[:, skip:]
                out.last_hw = state['hw']

            hooks.forward_hook(blocks[-1], on_pre_norm)

        if request.per_layer:
            sink = out.per_layer_sink(request.per_layer)
            for index, block in enumerate(blocks):

                def on_block(_module, _args, output, index=index):
                    sink(index, output[:, skip:], state['hw'])

                hooks.forward_hook(block, on_block)

        for index in request.attn_layers:

            def store(probs, index=index):
                out.attn[index] = probs

            hooks.on_exit(self.capture_attention(blocks[index].attn, store))

    def qkv_weights(self):
        return [
            self._qkv_parts(block.attn.qkv, f'{name}.attn')
            for name, block in zip(self.layer_names, self.blocks)
        ]
