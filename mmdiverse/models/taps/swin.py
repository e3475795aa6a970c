"""Tap for mmpretrain ``SwinTransformer`` (v1)."""

from typing import List, Tuple

import torch.nn as nn

from .attention import capture_window_msa, check_window_msa
from .base import BaseTap
from .builder import register_tap


@register_tap(priority=20)
class SwinTap(BaseTap):
    """Tap of mmpretrain ``SwinTransformer`` (also inside mmseg models).

    Blocks are numbered globally across stages and named
    ``stages.{s}.blocks.{b}``.

    * ``last``: tokens of the last stage, ``(B, h*w, 8C)`` on the stride-32
      grid (7x7 at 224 px), after the stage's output norm ``norm{S-1}`` when
      it exists (``out_indices`` contains the last stage, as in
      classification), else the raw stage output.
    * ``last_pre_norm``: the last stage's output before ``norm{S-1}`` (the
      last block's output, as for the token taps; equal to ``last`` when the
      backbone has no such norm).
    * ``first``: the tokens entering block ``first_layer``. Its width must
      equal the last stage's width (the contrastive term compares tokens
      dimension-wise), so the default is **the first block of the last
      stage** (the patch-merging output that enters the last stage: same
      width and grid as ``last``). Blocks of earlier stages have other widths
      and are rejected at build time when ``patch_contrast`` is on; a
      different grid (e.g. ``pad_small_map``) is pooled to the last grid by
      the loss through ``first_hw`` / ``last_hw``.
    * ``attn``: window attention probabilities ``(B * nW, H, w*w, w*w)`` of
      the chosen blocks, read from ``WindowMSA.softmax`` (Swin always
      computes attention explicitly; nothing is recomputed).
    * ``qkv_weights``: every block's ``attn.w_msa.qkv`` as its q, k, v parts.

    Blocks with ``with_cp=True`` run under activation checkpointing; their
    attention is captured in the checkpointed forward, which may carry no
    gradient, so they are rejected as ``attn_layers``.
    """

    supports_attention = True
    supports_weights = True
    supports_pre_norm = True

    @classmethod
    def matches(cls, backbone: nn.Module) -> bool:
        from mmpretrain.models.backbones import SwinTransformer

        return isinstance(backbone, SwinTransformer)

    def _blocks(self) -> List[Tuple[int, int, nn.Module]]:
        return [
            (s, b, block)
            for s, stage in enumerate(self.backbone.stages)
            for b, block in enumerate(stage.blocks)
        ]

    def block_names(self) -> List[str]:
        return [f'stages.{s}.blocks.{b}' for s, b, _ in self._blocks()]

    def default_first_layer(self):
        return sum(len(stage.blocks) for stage in self.backbone.stages[:-1])

    def block(self, index: int) -> nn.Module:
        return self._blocks()[index][2]

    def block_width(self, index: int) -> int:
        return int(self.backbone.stages[self._blocks()[index][0]].embed_dims)

    @property
    def last_width(self) -> int:
        return int(self.backbone.stages[-1].embed_dims)

    def token_stride(self) -> Tuple[int, int]:
        """Patch embedding stride times every patch merging's (32 by default)."""
        stride_h, stride_w = self.backbone.patch_embed.projection.stride
        for stage in self.backbone.stages:
            if stage.downsample is not None:
                merge_h, merge_w = stage.downsample.sampler.stride
                stride_h, stride_w = stride_h * merge_h, stride_w * merge_w
        return int(stride_h), int(stride_w)

    def _check_attention_layer(self, index: int) -> None:
        block = self.block(index)
        where = f'{self.cfg_key}.attn_layers: {self.layer_names[index]}'
        check_window_msa(block.attn.w_msa, where)
        if getattr(block, 'with_cp', False):
            raise ValueError(
                f'{where} uses with_cp=True (activation '
                'checkpointing); its attention maps would carry '
                'no gradient. Disable with_cp or choose another '
                'block.'
            )

    def _check_first_compatible(self, key: str) -> None:
        width = self.block_width(self.first_layer)
        if width != self.last_width:
            same = [
                name
                for i, name in enumerate(self.layer_names)
                if self.block_width(i) == self.last_width
            ]
            raise ValueError(
                f'{key}: {self.cfg_key}.first_layer='
                f'{self.layer_names[self.first_layer]!r} has width {width} '
                f'but the last stage has width {self.last_width}; the '
                'contrastive term needs equal widths. Choose one of '
                f'{", ".join(same)} (default: the first block of the last '
                'stage).'
            )

    def _install(self, hooks, out, request):
        backbone = self.backbone
        blocks = self._blocks()

        if request.first:

            def on_first(_module, args):
                out.first = args[0]
                out.first_hw = (int(args[1][0]), int(args[1][1]))

            hooks.pre_hook(blocks[self.first_layer][2], on_first)

        norm = getattr(backbone, f'norm{len(backbone.stages) - 1}', None)
        if request.last or request.pre_norm:
            # The last stage returns (tokens, hw_shape); it has no
            # downsampling, so its tokens are its last block's output.
            def on_stage(_module, _args, output):
                out.last_hw = (int(output[1][0]), int(output[1][1]))
                if request.pre_norm:
                    out.last_pre_norm = output[0]
                if request.last and norm is None:
                    out.last = output[0]

            hooks.forward_hook(backbone.stages[-1], on_stage)
        if request.last and norm is not None:

            def on_norm(_module, _args, output):
                out.last = output

            hooks.forward_hook(norm, on_norm)

        if request.per_layer:
            sink = out.per_layer_sink(request.per_layer)
            for index, (_, _, block) in enumerate(blocks):

                def on_block(_module, args, output, index=index):
                    sink(index, output, args[1])

                hooks.forward_hook(block, on_block)

        for index in request.attn_layers:

            def store(probs, index=index):
                out.attn[index] = probs

            hooks.on_exit(capture_window_msa(blocks[index][2].attn.w_msa, store))

    def qkv_weights(self):
        return [
            self._qkv_parts(block.attn.w_msa.qkv, name)
            for name, (_, _, block) in zip(self.layer_names, self._blocks())
        ]
