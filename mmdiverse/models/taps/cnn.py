"""Tap for convolutional backbones (ResNet, EfficientNet, ...)."""

from typing import List, Optional, Tuple

import torch
import torch.nn as nn

from .base import BaseTap
from .builder import register_tap
from .outputs import TapOutputs

_CONTAINERS = (nn.Sequential, nn.ModuleList)
#: Input of the build-time probe pass (a CNN's widths and stride show only in a forward).
PROBE_SIZE = (224, 224)


def feature_map_to_tokens(x: torch.Tensor) -> Tuple[torch.Tensor, tuple]:
    """``(B, C, H, W)`` -> ``(B, H*W, C)`` row-major tokens and ``(H, W)``."""
    if x.dim() != 4:
        raise ValueError(f'expected a (B, C, H, W) feature map, got shape {tuple(x.shape)}')
    return x.flatten(2).transpose(1, 2), (int(x.shape[2]), int(x.shape[3]))


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
                names += [f'{prefix}{child_name}.{sub_name}.{n}' for n, _ in sub.named_children()]
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
      first width to equal the last one; as a CNN states neither, this is
      checked at build time on one probe pass (:meth:`probe`), and again on
      every training forward. EfficientNet's
      final 1x1 conv widens to 1280, so no earlier tap matches it: use the
      cosine and mixing terms only there.
    * No attention maps, no q, k, v projections and no final norm (so no
      ``last_pre_norm``): configuring them raises.

    This is the fallback tap for any backbone not matched by another tap.
    """

    @classmethod
    def matches(cls, backbone: nn.Module) -> bool:
        return True

    def _root(self) -> nn.Module:
        return self.backbone

    def block_names(self) -> List[str]:
        return enumerate_blocks(self._root())

    def submodule_root(self) -> nn.Module:
        return self._root()

    def default_first_layer(self):
        return -1

    def probe(self) -> Optional[TapOutputs]:
        """``first`` and ``last`` of one forward pass on a zero image.

        A ``(1, C, 224, 224)`` input (``C``: the first convolution's input
        channels) in eval mode without gradients, the random streams and the
        training mode left as they were; cached. None if the backbone cannot
        run such an input (the checks then wait for the first batch).
        """
        if not hasattr(self, '_probe'):
            self._probe = None
            convs = [m for m in self._root().modules() if isinstance(m, nn.Conv2d)]
            param = next(self.backbone.parameters(), None)
            if convs and param is not None:
                image = torch.zeros(
                    1, convs[0].in_channels, *PROBE_SIZE, dtype=param.dtype, device=param.device
                )
                was_training = self.backbone.training
                try:
                    with (
                        torch.random.fork_rng(devices=[]),
                        torch.no_grad(),
                        self.capture(
                            first=True, last=True, attn=False, per_layer=False, pre_norm=False
                        ) as out,
                    ):
                        self.backbone.eval()
                        self.backbone(image)
                    self._probe = out
                except Exception:  # noqa: BLE001 -- an exotic input contract: check later
                    pass
                finally:
                    self.backbone.train(was_training)
        return self._probe

    def token_stride(self) -> Optional[Tuple[int, int]]:
        """Stride of the last feature map, measured by :meth:`probe`."""
        out = self.probe()
        if out is None or out.last_hw is None:
            return None
        (img_h, img_w), (h, w) = PROBE_SIZE, out.last_hw
        if img_h % h or img_w % w:
            return None
        return img_h // h, img_w // w

    def _check_first_compatible(self, key: str) -> None:
        out = self.probe()
        if out is None or out.first is None or out.last is None:
            return
        first, last = out.first.shape[-1], out.last.shape[-1]
        if first != last:
            raise ValueError(
                f'{key}: the first tap {self.layer_name(self.first_layer)!r} '
                f'({self.cfg_key}.first_layer) has width {first} but the last '
                f'tokens have width {last}; the contrastive term needs equal '
                f'widths. {self.valid_layers_message()}'
            )

    def _first_module(self) -> nn.Module:
        return self._root().get_submodule(self.layer_name(self.first_layer))

    def _install(self, hooks, out, request):
        if request.first:
            name = self.layer_name(self.first_layer)

            def on_first(_module, args):
                x = args[0]
                if x.dim() != 4:
                    raise ValueError(
                        f'{self.cfg_key}.first_layer={name!r}: its input has '
                        f'shape {tuple(x.shape)}, not a (B, C, H, W) map'
                    )
                out.first, out.first_hw = feature_map_to_tokens(x)

            hooks.pre_hook(self._first_module(), on_first)

        if request.last:

            def on_output(_module, _args, output):
                feat = output[-1] if isinstance(output, (tuple, list)) else output
                if feat.dim() != 4:
                    raise ValueError(
                        f'{type(self).__name__}: the last output of '
                        f'{type(self.backbone).__name__} has shape '
                        f'{tuple(feat.shape)}, not a (B, C, H, W) map'
                    )
                out.last, out.last_hw = feature_map_to_tokens(feat)

            hooks.forward_hook(self.backbone, on_output)

        if request.per_layer:
            sink = out.per_layer_sink(request.per_layer)
            root = self._root()
            for index, name in enumerate(self.layer_names):

                def on_block(_module, _args, output, index=index):
                    if torch.is_tensor(output) and output.dim() == 4:
                        tokens, hw = feature_map_to_tokens(output)
                        sink(index, tokens, hw)

                hooks.forward_hook(root.get_submodule(name), on_block)
