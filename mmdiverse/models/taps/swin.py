"""Tap for mmpretrain ``SwinTransformer`` (v1)."""
from typing import List, Tuple

import torch.nn as nn

from .attention import capture_window_msa, check_window_msa
from .base import BaseTap, register_tap


@register_tap(priority=20)
class SwinTap(BaseTap):
    """Tap of mmpretrain ``SwinTransformer`` (also inside mmseg models).

    Blocks are numbered globally across stages and named
    ``stages.{s}.blocks.{b}``.

    * ``last``: tokens of the last stage, ``(B, h*w, 8C)`` on the stride-32
      grid (7x7 at 224 px), after the stage's output norm ``norm{S-1}`` when
      it exists (``out_indices`` contains the last stage, as in
      classification), else the raw stage output.
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
    * ``qkv_weights``: every block's ``attn.w_msa.qkv`` split into q, k, v.

    Blocks with ``with_cp=True`` run under activation checkpointing; their
    attention is captured in the checkpointed forward, which may carry no
    gradient, so they are rejected as ``attn_layers``.
    """
    supports_attention = True
    supports_weights = True

    @classmethod
    def matches(cls, backbone: nn.Module) -> bool:
        from mmpretrain.models.backbones import SwinTransformer
        return isinstance(backbone, SwinTransformer)

    def _blocks(self) -> List[Tuple[int, int, nn.Module]]:
        return [(s, b, block)
                for s, stage in enumerate(self.backbone.stages)
                for b, block in enumerate(stage.blocks)]

    @property
    def layer_names(self) -> List[str]:
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
            raise ValueError(f'{where} uses with_cp=True (activation '
                             'checkpointing); its attention maps would carry '
                             'no gradient. Disable with_cp or choose another '
                             'block.')

    def _check_first_compatible(self, key: str) -> None:
        width = self.block_width(self.first_layer)
        if width != self.last_width:
            same = [name for i, name in enumerate(self.layer_names)
                    if self.block_width(i) == self.last_width]
            raise ValueError(
                f'{key}: {self.cfg_key}.first_layer='
                f'{self.layer_names[self.first_layer]!r} has width {width} '
                f'but the last stage has width {self.last_width}; the '
                'contrastive term needs equal widths. Choose one of '
                f'{", ".join(same)} (default: the first block of the last '
                'stage).')

    def _install(self, installer, out, first, last, attn_layers, per_layer):
        backbone = self.backbone
        blocks = self._blocks()

        if first:
            def on_first(_module, args):
                out.first = args[0]
                out.first_hw = tuple(int(s) for s in args[1])

            installer.pre_hook(blocks[self.first_layer][2], on_first)

        if last:
            last_stage = backbone.stages[-1]
            norm = getattr(backbone, f'norm{len(backbone.stages) - 1}', None)

            def on_stage(_module, _args, output):
                out.last_hw = tuple(int(s) for s in output[1])
                if norm is None:
                    out.last = output[0]

            installer.forward_hook(last_stage, on_stage)
            if norm is not None:
                def on_norm(_module, _args, output):
                    out.last = output

                installer.forward_hook(norm, on_norm)

        if per_layer:
            sink = self._per_layer_sink(out, per_layer)
            for index, (_, _, block) in enumerate(blocks):
                def on_block(_module, args, output, index=index):
                    sink(index, output, args[1])

                installer.forward_hook(block, on_block)

        for index in attn_layers:
            def store(probs, index=index):
                out.attn[index] = probs

            installer.on_exit(
                capture_window_msa(blocks[index][2].attn.w_msa, store))

    def qkv_weights(self):
        weights = []
        for name, (_, _, block) in zip(self.layer_names, self._blocks()):
            weights += self._split_qkv(block.attn.w_msa.qkv, name)
        return weights
