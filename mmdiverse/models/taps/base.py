"""Tap base class, registry, captured-output record and ``build_tap``.

A *tap* captures tensors inside a stock backbone's forward pass through
PyTorch module hooks that exist only inside :meth:`BaseTap.capture`; outside
of it the backbone is untouched, so inference costs nothing extra.
"""
import contextlib
import dataclasses
from typing import (Callable, Dict, Iterator, List, Optional, Sequence, Tuple,
                    Union)

import torch
import torch.nn as nn
from mmengine.registry import Registry

#: Registry of tap classes (``tap=dict(type='SwinTap', ...)``). Taps are not
#: ``nn.Module``s: they hold a reference to a backbone owned elsewhere.
TAPS = Registry('tap', scope='mmdiverse')

LayerSpec = Union[int, str]
#: ``per_layer`` may be a callable ``fn(block_index, tokens, hw)`` that is
#: called from inside the forward pass instead of storing every block's
#: tokens (what a similarity hook needs on large models).
PerLayerCallback = Callable[[int, torch.Tensor, Tuple[int, int]], None]


@dataclasses.dataclass
class TapOutputs:
    """What one :meth:`BaseTap.capture` recorded during a forward pass.

    Tokens are ``(B, n, d)`` patch tokens in row-major grid order (class and
    distillation tokens removed) and keep their autograd graph.

    Attributes:
        first: Tokens entering the ``first_layer`` block.
        last: Tokens of the last block as the classifier head sees them
            (after the backbone's final norm).
        first_hw: Grid ``(h, w)`` of ``first``.
        last_hw: Grid ``(h, w)`` of ``last``.
        attn: ``{block_index: probabilities}``; ``(B, H, N, N)`` for global
            attention (``N`` includes class tokens), ``(B * nW, H, w*w, w*w)``
            for Swin window attention.
        per_layer: ``{block_index: tokens}`` output of every block (before
            any final norm), when requested.
        per_layer_hw: ``{block_index: (h, w)}`` grids of ``per_layer``.
    """
    first: Optional[torch.Tensor] = None
    last: Optional[torch.Tensor] = None
    first_hw: Optional[Tuple[int, int]] = None
    last_hw: Optional[Tuple[int, int]] = None
    attn: Dict[int, torch.Tensor] = dataclasses.field(default_factory=dict)
    per_layer: Dict[int, torch.Tensor] = dataclasses.field(
        default_factory=dict)
    per_layer_hw: Dict[int, Tuple[int, int]] = dataclasses.field(
        default_factory=dict)


def feature_map_to_tokens(x: torch.Tensor) -> Tuple[torch.Tensor, tuple]:
    """``(B, C, H, W)`` -> ``(B, H*W, C)`` row-major tokens and ``(H, W)``."""
    if x.dim() != 4:
        raise ValueError('expected a (B, C, H, W) feature map, got shape '
                         f'{tuple(x.shape)}')
    return x.flatten(2).transpose(1, 2), (int(x.shape[2]), int(x.shape[3]))


class _Installer:
    """Collects hook handles and undo callbacks of one capture."""

    def __init__(self):
        self._undo: List[Callable[[], None]] = []

    def forward_hook(self, module: nn.Module, fn) -> None:
        self._undo.append(module.register_forward_hook(fn).remove)

    def pre_hook(self, module: nn.Module, fn) -> None:
        self._undo.append(module.register_forward_pre_hook(fn).remove)

    def on_exit(self, fn: Callable[[], None]) -> None:
        self._undo.append(fn)

    def close(self) -> None:
        while self._undo:
            self._undo.pop()()


class BaseTap:
    """Base class of the taps.

    Subclasses define the layer naming of one backbone family and install
    the hooks. Layers are *blocks*, named as in the backbone's module tree
    (``layers.3``, ``stages.3.blocks.0``, ``layer4.1``), and can also be given
    by their index in :attr:`layer_names` (negative indices count from the
    end). ``first_layer`` names the block whose *input* is tapped (block 0:
    the patch embedding as it enters block 0).

    Args:
        backbone (nn.Module): The backbone (not copied, not modified).
        first_layer (int | str, optional): Block whose input is the
            ``first`` tap. ``None``: the family's default.
        attn_layers (Sequence[int | str]): Blocks whose attention
            probabilities are captured. Defaults to ``()``.
        per_layer (bool): Capture every block's output tokens by default.
            Defaults to False.
        cfg_key (str): Config path used in error messages. Defaults to
            ``'tap'``.
    """
    #: Whether attention maps / q,k,v weights exist for this family.
    supports_attention = False
    supports_weights = False

    def __init__(self,
                 backbone: nn.Module,
                 first_layer: Optional[LayerSpec] = None,
                 attn_layers: Sequence[LayerSpec] = (),
                 per_layer: bool = False,
                 cfg_key: str = 'tap'):
        if not isinstance(backbone, nn.Module):
            raise TypeError(f'{type(self).__name__} needs a built backbone '
                            f'module, got {type(backbone).__name__}')
        self.backbone = backbone
        self.cfg_key = cfg_key
        self.per_layer = per_layer
        names = self.layer_names
        if not names:
            raise ValueError(f'{type(self).__name__}: found no blocks in '
                             f'{type(backbone).__name__}')
        if first_layer is None:
            first_layer = self.default_first_layer()
        self.first_layer = self.resolve_layer(first_layer, 'first_layer')
        self.set_attn_layers(attn_layers)

    def set_attn_layers(self, attn_layers: Sequence[LayerSpec]) -> None:
        """Resolve and check the blocks whose attention is captured."""
        if isinstance(attn_layers, (int, str)):
            attn_layers = (attn_layers, )
        attn_layers = tuple(attn_layers or ())
        if attn_layers and not self.supports_attention:
            raise ValueError(
                f'{self.cfg_key}.attn_layers={attn_layers!r}: '
                f'{type(self).__name__} (backbone '
                f'{type(self.backbone).__name__}) has no attention maps to '
                'capture')
        resolved = tuple(
            sorted({self._block_index(self.resolve_layer(a, 'attn_layers'))
                    for a in attn_layers}))
        for idx in resolved:
            self._check_attention_layer(idx)
        self.attn_layers = resolved

    # ------------------------------------------------------------ naming
    @property
    def layer_names(self) -> List[str]:
        """Names of the blocks, in forward order."""
        raise NotImplementedError

    @property
    def num_layers(self) -> int:
        return len(self.layer_names)

    def default_first_layer(self) -> LayerSpec:
        return 0

    def extra_layer_names(self) -> Dict[str, LayerSpec]:
        """Aliases accepted besides the block names, e.g. ``patch_embed``."""
        return {}

    def valid_layers_message(self) -> str:
        names = self.layer_names
        aliases = list(self.extra_layer_names())
        msg = (f'valid layers of {type(self.backbone).__name__}: '
               f'{", ".join(names)} (or an index in [{-len(names)}, '
               f'{len(names) - 1}])')
        if aliases:
            msg += f'; aliases: {", ".join(aliases)}'
        return msg

    def resolve_layer(self, spec: LayerSpec, key: str) -> LayerSpec:
        """Map an index / name / alias to the canonical layer.

        Returns the block index (int) for blocks, or a module name (str) for
        taps that also accept arbitrary submodules (CNNs).

        Raises:
            ValueError: naming ``<cfg_key>.<key>`` and listing valid layers.
        """
        names = self.layer_names
        if isinstance(spec, bool) or not isinstance(spec, (int, str)):
            raise ValueError(f'{self.cfg_key}.{key}={spec!r} must be a block '
                             f'index or name; {self.valid_layers_message()}')
        if isinstance(spec, int):
            if -len(names) <= spec < len(names):
                return spec % len(names)
        else:
            aliases = self.extra_layer_names()
            if spec in aliases:
                return self.resolve_layer(aliases[spec], key)
            if spec in names:
                return names.index(spec)
            other = self._resolve_other_name(spec)
            if other is not None:
                return other
        raise ValueError(f'{self.cfg_key}.{key}={spec!r} is not a layer of '
                         f'{type(self.backbone).__name__}; '
                         f'{self.valid_layers_message()}')

    def _resolve_other_name(self, name: str) -> Optional[str]:
        return None

    # -------------------------------------------------------- geometry
    def token_stride(self) -> Optional[Tuple[int, int]]:
        """``(h, w)`` pixel stride of the ``last`` tokens, or None.

        None when the backbone does not state it (a CNN's stride shows only
        in a forward pass); build-time checks are then skipped.
        """
        return None

    def input_size(self) -> Optional[Tuple[int, int]]:
        """``(h, w)`` input the backbone was built for (its ``img_size``),
        or None when it takes any size.

        mmpretrain's ViT and Swin keep it in their (mmcv) ``PatchEmbed`` as
        ``init_input_size``; backbones without one take any size.
        """
        size = getattr(getattr(self.backbone, 'patch_embed', None), 'init_input_size', None)
        return None if size is None else tuple(int(s) for s in size)

    def _block_index(self, layer: LayerSpec) -> int:
        if not isinstance(layer, int):
            raise ValueError(f'{self.cfg_key}: {layer!r} is not a block')
        return layer

    def layer_name(self, layer: LayerSpec) -> str:
        return layer if isinstance(layer, str) else self.layer_names[layer]

    # -------------------------------------------------------- validation
    def _check_attention_layer(self, index: int) -> None:
        """Raise if the attention of block ``index`` cannot be captured."""

    def validate(self,
                 first: bool = False,
                 attn: bool = False,
                 weights: bool = False,
                 keys: Optional[Dict[str, str]] = None) -> None:
        """Check at build time that the requested captures are possible.

        Args:
            first (bool): The ``first`` tokens will be used (contrastive).
            attn (bool): Attention maps will be used.
            weights (bool): :meth:`qkv_weights` will be used.
            keys (dict, optional): Config keys named in the errors for
                ``'first'``, ``'attn'`` and ``'weights'``.
        """
        keys = keys or {}
        family = (f'{type(self).__name__} (backbone '
                  f'{type(self.backbone).__name__})')
        if attn and not self.supports_attention:
            raise ValueError(
                f'{keys.get("attn", "attn")} is not applicable to {family}: '
                'it has no attention maps. Remove it from the config.')
        if weights and not self.supports_weights:
            raise ValueError(
                f'{keys.get("weights", "weights")} is not applicable to '
                f'{family}: it has no q, k, v projections. Remove it from the '
                'config.')
        if attn and not self.attn_layers:
            raise ValueError(f'{keys.get("attn", "attn")} needs '
                             f'{self.cfg_key}.attn_layers (block indices)')
        if first:
            self._check_first_compatible(keys.get('first', 'first'))

    def _check_first_compatible(self, key: str) -> None:
        """Raise if the first tap cannot be compared with the last one."""

    # ------------------------------------------------------------ capture
    @contextlib.contextmanager
    def capture(self,
                first: bool = True,
                last: bool = True,
                attn: Union[bool, Sequence[LayerSpec]] = True,
                per_layer: Union[None, bool, PerLayerCallback] = None
                ) -> Iterator[TapOutputs]:
        """Context manager recording one (or more) forward passes.

        Example::

            with tap.capture(per_layer=True) as out:
                feats = backbone(images)
            out.last, out.attn[0], out.per_layer[11]

        Args:
            first (bool): Record ``first``. Defaults to True.
            last (bool): Record ``last``. Defaults to True.
            attn (bool | Sequence): True: the configured ``attn_layers``;
                False: none; a sequence: these blocks (only they switch to
                explicit attention). Defaults to True.
            per_layer (None | bool | callable): Record every block's output;
                ``None``: the configured default; a callable
                ``fn(block_index, tokens, hw)`` receives them instead of
                storing them.

        Yields:
            TapOutputs: Filled while the backbone runs. Later passes inside
            the same context overwrite earlier ones.
        """
        if attn is True:
            attn_layers = self.attn_layers
        elif attn is False or attn is None:
            attn_layers = ()
        else:
            if attn and not self.supports_attention:
                raise ValueError(f'{type(self).__name__} has no attention '
                                 'maps to capture')
            attn_layers = tuple(
                sorted({self._block_index(self.resolve_layer(a, 'attn'))
                        for a in attn}))
            for idx in attn_layers:
                self._check_attention_layer(idx)
        if per_layer is None:
            per_layer = self.per_layer
        out = TapOutputs()
        installer = _Installer()
        try:
            self._install(installer, out, first, last, attn_layers, per_layer)
            yield out
        finally:
            installer.close()

    def _install(self, installer: _Installer, out: TapOutputs, first: bool,
                 last: bool, attn_layers: Tuple[int, ...],
                 per_layer) -> None:
        raise NotImplementedError

    def _install_token_blocks(self, installer: _Installer, out: TapOutputs,
                              blocks: Sequence[nn.Module], skip: int, state: dict,
                              per_layer, attn_layers: Tuple[int, ...], capture) -> None:
        """Hooks shared by the token (ViT-like) taps.

        Records every block's output tokens without its ``skip`` leading
        class / distillation tokens (when ``per_layer``), on the grid
        ``state['hw']``, and the attention probabilities of ``attn_layers``
        through ``capture(attention_module, store)``, which returns its undo.
        """
        if per_layer:
            sink = self._per_layer_sink(out, per_layer)
            for index, block in enumerate(blocks):
                def on_block(_module, _args, output, index=index):
                    sink(index, output[:, skip:], state['hw'])

                installer.forward_hook(block, on_block)

        for index in attn_layers:
            def store(probs, index=index):
                out.attn[index] = probs

            installer.on_exit(capture(blocks[index].attn, store))

    @staticmethod
    def _per_layer_sink(out: TapOutputs, per_layer) -> PerLayerCallback:
        if callable(per_layer):
            return per_layer

        def store(index, tokens, hw):
            out.per_layer[index] = tokens
            out.per_layer_hw[index] = tuple(int(s) for s in hw)

        return store

    def extract(self, inputs: torch.Tensor, **capture_kwargs):
        """Run the backbone on ``inputs`` inside :meth:`capture`.

        Returns:
            tuple: ``(backbone outputs, TapOutputs)``.
        """
        with self.capture(**capture_kwargs) as out:
            feats = self.backbone(inputs)
        return feats, out

    # ------------------------------------------------------------ weights
    def qkv_weights(self) -> List[torch.Tensor]:
        """The q, k and v projection matrices of every attention block.

        Returns:
            list[Tensor]: 2-D views of the live parameters (gradients flow),
            three per block (q, k, v), in block order.
        """
        raise ValueError(f'{type(self).__name__} (backbone '
                         f'{type(self.backbone).__name__}) has no q, k, v '
                         'projections')

    @staticmethod
    def _split_qkv(linear: nn.Module, owner: str) -> List[torch.Tensor]:
        weight = getattr(linear, 'weight', None)
        if weight is None or weight.dim() != 2 or weight.shape[0] % 3:
            raise ValueError(f'{owner}: expected a fused qkv Linear with a '
                             '(3d, d_in) weight')
        return list(weight.chunk(3, dim=0))

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(backbone='
                f'{type(self.backbone).__name__}, first_layer='
                f'{self.layer_name(self.first_layer)!r}, attn_layers='
                f'{[self.layer_names[i] for i in self.attn_layers]})')


# Taps tried, in order, when the config gives no ``type``.
_INFERENCE_ORDER: List[type] = []


def register_tap(infer: bool = True, priority: int = 50):
    """Register a tap class; ``infer=True`` adds it to type inference
    (lower ``priority`` is tried first) through its ``matches`` classmethod.
    """

    def wrap(cls):
        TAPS.register_module(module=cls)
        if infer:
            cls._infer_priority = priority
            _INFERENCE_ORDER.append(cls)
            _INFERENCE_ORDER.sort(key=lambda c: c._infer_priority)
        return cls

    return wrap


def infer_tap_type(backbone: nn.Module) -> type:
    """The tap class for ``backbone`` (first whose ``matches`` accepts it)."""
    for cls in _INFERENCE_ORDER:
        if cls.matches(backbone):
            return cls
    raise ValueError(f'no tap matches backbone {type(backbone).__name__}; '
                     f'give tap=dict(type=...) with one of '
                     f'{sorted(TAPS.module_dict)}')


def build_tap(backbone: nn.Module,
              cfg: Optional[dict] = None,
              **kwargs) -> BaseTap:
    """Build a tap for ``backbone``.

    Args:
        backbone (nn.Module): A built backbone.
        cfg (dict, optional): Tap config; ``type`` is optional (inferred
            from the backbone class, see :func:`infer_tap_type`).
        **kwargs: Merged over ``cfg``: ``first_layer``, ``attn_layers``,
            ``per_layer``, ``cfg_key``.

    Returns:
        BaseTap
    """
    args = dict(cfg or {})
    args.update(kwargs)
    tap_type = args.pop('type', None)
    if tap_type is None:
        cls = infer_tap_type(backbone)
    elif isinstance(tap_type, str):
        cls = TAPS.get(tap_type)
        if cls is None:
            raise ValueError(f'unknown tap type {tap_type!r}; registered: '
                             f'{sorted(TAPS.module_dict)}')
    else:
        cls = tap_type
    return cls(backbone, **args)
