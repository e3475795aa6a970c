"""Tap for convolutional backbones (ResNet, EfficientNet, ...)."""
from typing import Dict, List, Optional

import torch
import torch.nn as nn

from .base import BaseTap, feature_map_to_tokens, register_tap

_CONTAINERS = (nn.Sequential, nn.ModuleList)


def enumerate_blocks(root: nn.Module, prefix: str = '') -> List[str]:
    """Names of the residual blocks of a CNN, in forward order.

    A block is an element of a top-level ``Sequential`` / ``ModuleList`` of
    ``root``; elements that are containers themselves (stages) are expanded
    one more level. This gives ``layer1.0 ... layer4.2`` for ResNets and
    ``layers.0, layers.1.0, ..., layers.6`` for mmpretrain EfficientNet-B0.
    """
    names = []
    for child_name, child in root.named_children():
        if not isinstance(child, _CONTAINERS):
            continue
        for sub_name, sub in child.named_children():
            if isinstance(sub, _CONTAINERS):
                names += [f'{prefix}{child_name}.{sub_name}.{n}'
                          for n, _ in sub.named_children()]
            else:
                names.append(f'{prefix}{child_name}.{sub_name}')
    return names


@register_tap(priority=90)
class CNNTap(BaseTap):
    """Tap of a CNN: the spatial positions of a feature map are its patches.

    * ``last``: the backbone's last output feature map ``(B, C, H, W)`` as
      ``(B, H*W, C)`` row-major tokens (what the GAP neck averages and the
      linear head classifies, so the head's ``fc`` applies per position).
    * ``first``: the input of block ``first_layer`` (default: the last block,
      e.g. ``layer4.{-1}`` of a ResNet, whose input has the final width).
      Blocks are listed by :func:`enumerate_blocks`; any other submodule
      name of the backbone is accepted too. The contrastive term needs the
      first width to equal the last one; this is checked on the first
      forward pass (a CNN's widths are only known then). EfficientNet's
      final 1x1 conv widens to 1280, so no earlier tap matches it: use the
      cosine and mixing terms only there.
    * No attention maps and no q, k, v projections: configuring them raises.

    This is the fallback tap for any backbone not matched by another tap.
    """

    @classmethod
    def matches(cls, backbone: nn.Module) -> bool:
        return True

    def _root(self) -> nn.Module:
        return self.backbone

    @property
    def layer_names(self) -> List[str]:
        if not hasattr(self, '_layer_names'):
            self._layer_names = enumerate_blocks(self._root())
        return self._layer_names

    def default_first_layer(self):
        return -1

    def _resolve_other_name(self, name: str) -> Optional[str]:
        modules: Dict[str, nn.Module] = dict(self._root().named_modules())
        return name if name and name in modules else None

    def valid_layers_message(self) -> str:
        return (super().valid_layers_message() +
                f', or any submodule name of {type(self._root()).__name__}')

    def _first_module(self) -> nn.Module:
        return self._root().get_submodule(self.layer_name(self.first_layer))

    def _install(self, installer, out, first, last, attn_layers, per_layer):
        if first:
            name = self.layer_name(self.first_layer)

            def on_first(_module, args):
                x = args[0]
                if x.dim() != 4:
                    raise ValueError(
                        f'{self.cfg_key}.first_layer={name!r}: its input has '
                        f'shape {tuple(x.shape)}, not a (B, C, H, W) map')
                out.first, out.first_hw = feature_map_to_tokens(x)

            installer.pre_hook(self._first_module(), on_first)

        if last:
            def on_output(_module, _args, output):
                feat = output[-1] if isinstance(output, (tuple,
                                                         list)) else output
                if feat.dim() != 4:
                    raise ValueError(
                        f'{type(self).__name__}: the last output of '
                        f'{type(self.backbone).__name__} has shape '
                        f'{tuple(feat.shape)}, not a (B, C, H, W) map')
                out.last, out.last_hw = feature_map_to_tokens(feat)

            installer.forward_hook(self.backbone, on_output)

        if per_layer:
            sink = self._per_layer_sink(out, per_layer)
            root = self._root()
            for index, name in enumerate(self.layer_names):
                def on_block(_module, _args, output, index=index):
                    if torch.is_tensor(output) and output.dim() == 4:
                        tokens, hw = feature_map_to_tokens(output)
                        sink(index, tokens, hw)

                installer.forward_hook(root.get_submodule(name), on_block)
