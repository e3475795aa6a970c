"""The tap base class: what every tap offers and how ``capture()`` works.

A *tap* captures tensors inside a stock backbone's forward pass through
PyTorch module hooks that exist only inside :meth:`BaseTap.capture`; outside
of it the backbone is untouched, so inference costs nothing extra.
"""

import contextlib
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from .hooks import HookSet
from .layers import LayerIndex, LayerSpec
from .outputs import CaptureRequest, PerLayerCallback, TapOutputs

#: Values of ``<cfg_key>.similarity_tokens``: which "last" tokens the
#: similarity terms read (see docs/fidelity.md).
SIMILARITY_TOKENS = ('post_norm', 'pre_norm')


class BaseTap:
    """Base class of the taps.

    Subclasses name the blocks of one backbone family (:meth:`block_names`)
    and install the hooks (:meth:`_install`). Layers are *blocks*, named as
    in the backbone's module tree, or given by their index in
    :attr:`layer_names` (see :class:`~mmdiverse.models.taps.LayerIndex`).
    ``first_layer`` names the block whose *input* is tapped (block 0: the
    patch embedding as it enters block 0).

    Args:
        backbone (nn.Module): The backbone (not copied, not modified).
        first_layer (int | str, optional): Block whose input is the
            ``first`` tap. ``None``: the family's default.
        attn_layers (Sequence[int | str]): Blocks whose attention
            probabilities are captured. Defaults to ``()``.
        per_layer (bool): Capture every block's output tokens by default.
            Defaults to False.
        similarity_tokens (str): The "last" tokens of the cosine and
            contrastive terms (:meth:`similarity_last`): ``'post_norm'``
            (default, after the final norm) or ``'pre_norm'`` (Diverse-ViT:
            the last block's output, recorded by ``capture()`` by default;
            taps without a final norm reject it at build time).
        cfg_key (str): Config path used in error messages. Defaults to
            ``'tap'``.
    """

    #: Whether attention maps / q,k,v weights / pre-norm last tokens exist.
    supports_attention = False
    supports_weights = False
    supports_pre_norm = False

    def __init__(
        self,
        backbone: nn.Module,
        first_layer: Optional[LayerSpec] = None,
        attn_layers: Sequence[LayerSpec] = (),
        per_layer: bool = False,
        similarity_tokens: str = 'post_norm',
        cfg_key: str = 'tap',
    ):
        if not isinstance(backbone, nn.Module):
            raise TypeError(
                f'{type(self).__name__} needs a built backbone '
                f'module, got {type(backbone).__name__}'
            )
        self.backbone = backbone
        self.cfg_key = cfg_key
        self.per_layer = per_layer
        self.layer_index = LayerIndex(
            self.block_names(),
            type(backbone).__name__,
            cfg_key,
            aliases=self.layer_aliases(),
            submodules=self.submodule_root(),
        )
        if not self.layer_names:
            raise ValueError(f'{type(self).__name__}: found no blocks in {type(backbone).__name__}')
        self.similarity_tokens = similarity_tokens
        if similarity_tokens != 'post_norm':
            self._check_pre_norm()
        if first_layer is None:
            first_layer = self.default_first_layer()
        self.first_layer = self.layer_index.resolve(first_layer, 'first_layer')
        self.set_attn_layers(attn_layers)

    @classmethod
    def select(cls, backbone: nn.Module) -> type:
        """The class built when this one is named (``TimmTap``: a kind)."""
        return cls

    # ------------------------------------------------ naming (subclasses)
    def block_names(self) -> List[str]:
        """Names of the blocks, in forward order."""
        raise NotImplementedError

    def layer_aliases(self) -> Dict[str, LayerSpec]:
        """Aliases accepted besides the block names, e.g. ``patch_embed``."""
        return {}

    def submodule_root(self) -> Optional[nn.Module]:
        """Module whose submodule names are layers too (CNNs), or None."""
        return None

    def default_first_layer(self) -> LayerSpec:
        return 0

    # --------------------------------------------------- naming (shared)
    @property
    def layer_names(self) -> List[str]:
        return self.layer_index.names

    def layer_name(self, layer: LayerSpec) -> str:
        return self.layer_index.name(layer)

    def valid_layers_message(self) -> str:
        return self.layer_index.message()

    def set_attn_layers(self, attn_layers: Sequence[LayerSpec]) -> None:
        """Resolve and check the blocks whose attention is captured."""
        if isinstance(attn_layers, (int, str)):
            attn_layers = (attn_layers,)
        attn_layers = tuple(attn_layers or ())
        if attn_layers and not self.supports_attention:
            raise ValueError(
                f'{self.cfg_key}.attn_layers={attn_layers!r}: '
                f'{self._family()} has no attention maps to capture'
            )
        self.attn_layers = self._attention_blocks(attn_layers, 'attn_layers')

    def _attention_blocks(self, specs, key: str) -> Tuple[int, ...]:
        blocks = self.layer_index.resolve_blocks(specs, key)
        for index in blocks:
            self._check_attention_layer(index)
        return blocks

    # ----------------------------------------------------------- geometry
    def token_stride(self) -> Optional[Tuple[int, int]]:
        """``(h, w)`` pixel stride of the ``last`` tokens, or None where
        the backbone does not state it (build-time checks are skipped)."""
        return None

    def input_size(self) -> Optional[Tuple[int, int]]:
        """``(h, w)`` input the backbone was built for (``img_size``, kept
        by mmcv's ``PatchEmbed`` of mmpretrain ViT / Swin as
        ``init_input_size``), or None when it takes any size."""
        size = getattr(getattr(self.backbone, 'patch_embed', None), 'init_input_size', None)
        return None if size is None else tuple(int(s) for s in size)

    # --------------------------------------------------------- validation
    def _family(self) -> str:
        return f'{type(self).__name__} (backbone {type(self.backbone).__name__})'

    def _check_attention_layer(self, index: int) -> None:
        """Raise if the attention of block ``index`` cannot be captured."""

    def _check_first_compatible(self, key: str) -> None:
        """Raise if the first tokens cannot be compared with the last."""

    def _check_pre_norm(self) -> None:
        if self.similarity_tokens not in SIMILARITY_TOKENS:
            raise ValueError(
                f'{self.cfg_key}.similarity_tokens='
                f'{self.similarity_tokens!r}; choose one of '
                f'{SIMILARITY_TOKENS}'
            )
        if not self.supports_pre_norm:
            raise ValueError(
                f"{self.cfg_key}.similarity_tokens='pre_norm' is not "
                f'applicable to {self._family()}: it has no final norm after '
                "its last block. Use 'post_norm' (the default)."
            )

    def validate(
        self,
        first: bool = False,
        attn: bool = False,
        weights: bool = False,
        pre_norm: bool = False,
        keys: Optional[Dict[str, str]] = None,
    ) -> None:
        """Check at build time that the requested captures are possible.

        Args:
            first, attn, weights, pre_norm (bool): ``first`` tokens,
                attention maps, :meth:`qkv_weights`, ``last_pre_norm`` will
                be used.
            keys (dict, optional): Config keys named in the errors for
                ``'first'``, ``'attn'`` and ``'weights'``.
        """
        keys = keys or {}
        if attn and not self.supports_attention:
            raise ValueError(
                f'{keys.get("attn", "attn")} is not applicable to '
                f'{self._family()}: it has no attention maps. Remove it from '
                'the config.'
            )
        if weights and not self.supports_weights:
            raise ValueError(
                f'{keys.get("weights", "weights")} is not applicable to '
                f'{self._family()}: it has no q, k, v projections. Remove it '
                'from the config.'
            )
        if attn and not self.attn_layers:
            raise ValueError(
                f'{keys.get("attn", "attn")} needs {self.cfg_key}.attn_layers (block indices)'
            )
        if first:
            self._check_first_compatible(keys.get('first', 'first'))
        if pre_norm:
            self._check_pre_norm()

    # ------------------------------------------------------------ capture
    @contextlib.contextmanager
    def capture(
        self,
        first: bool = True,
        last: bool = True,
        attn: Union[bool, Sequence[LayerSpec]] = True,
        per_layer: Union[None, bool, PerLayerCallback] = None,
        pre_norm: Optional[bool] = None,
    ) -> Iterator[TapOutputs]:
        """Context manager recording one (or more) forward passes.

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
            pre_norm (bool, optional): Record ``last_pre_norm``; ``None``:
                when ``similarity_tokens='pre_norm'``.

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
                raise ValueError(f'{self._family()} has no attention maps to capture')
            attn_layers = self._attention_blocks(attn, 'attn')
        if pre_norm is None:
            pre_norm = self.similarity_tokens == 'pre_norm'
        elif pre_norm:
            self._check_pre_norm()
        request = CaptureRequest(
            first=bool(first),
            last=bool(last),
            pre_norm=bool(pre_norm),
            attn_layers=attn_layers,
            per_layer=self.per_layer if per_layer is None else per_layer,
        )
        out = TapOutputs()
        hooks = HookSet()
        try:
            self._install(hooks, out, request)
            yield out
        finally:
            hooks.close()

    def _install(self, hooks: HookSet, out: TapOutputs, request: CaptureRequest) -> None:
        """Install the hooks filling ``out`` as ``request`` asks."""
        raise NotImplementedError

    def similarity_last(self, out: TapOutputs) -> torch.Tensor:
        """The "last" tokens the cosine and contrastive terms read:
        ``out.last_pre_norm`` for ``similarity_tokens='pre_norm'``, else
        ``out.last``; ``(B, n, d)`` on the grid ``out.last_hw``.

        Raises:
            RuntimeError: If those tokens were not captured.
        """
        pre = self.similarity_tokens == 'pre_norm'
        tokens = out.last_pre_norm if pre else out.last
        if tokens is None:
            asked = 'pre_norm=True' if pre else 'last=True'
            raise RuntimeError(
                f'{type(self).__name__} captured no '
                f'{"last_pre_norm" if pre else "last"} tokens: did the '
                f'backbone run inside capture({asked})?'
            )
        return tokens

    def extract(self, inputs: torch.Tensor, **capture_kwargs):
        """``(backbone(inputs), TapOutputs)``, run inside :meth:`capture`."""
        with self.capture(**capture_kwargs) as out:
            feats = self.backbone(inputs)
        return feats, out

    # ------------------------------------------------------------ weights
    def qkv_weights(self) -> List[torch.Tensor]:
        """The q, k and v projection matrices of every attention block.

        Returns:
            list[Tensor]: One ``(3, d, d_in)`` view of each block's fused
            ``qkv`` weight (``[0], [1], [2]`` = q, k, v), in block order:
            the live parameters, so gradients flow, and a view rather than
            three chunks, so they reach the parameter without a copy.
        """
        raise ValueError(f'{self._family()} has no q, k, v projections')

    @staticmethod
    def _qkv_parts(linear: nn.Module, owner: str) -> torch.Tensor:
        weight = getattr(linear, 'weight', None)
        if weight is None or weight.dim() != 2 or weight.shape[0] % 3:
            raise ValueError(f'{owner}: expected a fused qkv Linear with a (3d, d_in) weight')
        return weight.view(3, weight.shape[0] // 3, weight.shape[1])

    def __repr__(self) -> str:
        return (
            f'{type(self).__name__}(backbone='
            f'{type(self.backbone).__name__}, first_layer='
            f'{self.layer_name(self.first_layer)!r}, attn_layers='
            f'{[self.layer_names[i] for i in self.attn_layers]})'
        )
