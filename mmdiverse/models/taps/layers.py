"""Layer resolution of the taps: config values -> blocks, written once.

Every tap names the blocks of its backbone family (``layers.3``,
``stages.3.blocks.0``, ``blocks.7``, ``layer4.1``); config values give a
block by index or name, and an unknown one fails at build time with the list
of valid layers and the config key.
"""

from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch.nn as nn

#: A block index (negative: from the end) or a layer name.
LayerSpec = Union[int, str]


class LayerIndex:
    """The blocks of one backbone and how config values name them.

    A layer is given as the index of a block in :attr:`names` (negative
    indices count from the end), as a block name, as an alias (e.g.
    ``'patch_embed'`` for block 0 of a ViT) or, when ``submodules`` is
    given, as the name of any submodule of that module (CNN taps can hook
    any module). Blocks resolve to their index (``int``), other submodules
    to their name (``str``).

    Args:
        names (Sequence[str]): Block names in forward order.
        owner (str): Class name of the backbone, for messages.
        cfg_key (str): Config path of the tap, for messages. Defaults to
            ``'tap'``.
        aliases (dict, optional): ``{alias: LayerSpec}``.
        submodules (nn.Module, optional): Module whose submodule names are
            accepted besides the blocks.
    """

    def __init__(
        self,
        names: Sequence[str],
        owner: str,
        cfg_key: str = 'tap',
        aliases: Optional[Dict[str, LayerSpec]] = None,
        submodules: Optional[nn.Module] = None,
    ):
        self.names: List[str] = list(names)
        self.owner = owner
        self.cfg_key = cfg_key
        self.aliases = dict(aliases or {})
        self.submodules = submodules

    def message(self) -> str:
        """``'valid layers of <owner>: ...'``, listing every accepted form."""
        names = self.names
        msg = (
            f'valid layers of {self.owner}: {", ".join(names)} (or an '
            f'index in [{-len(names)}, {len(names) - 1}])'
        )
        if self.aliases:
            msg += f'; aliases: {", ".join(self.aliases)}'
        if self.submodules is not None:
            msg += f', or any submodule name of {type(self.submodules).__name__}'
        return msg

    def resolve(self, spec: LayerSpec, key: str) -> LayerSpec:
        """The block index (or submodule name) ``spec`` denotes.

        Args:
            spec (int | str): Index, block name, alias or submodule name.
            key (str): Config key of ``spec`` below :attr:`cfg_key`
                (``'first_layer'``), for the error.

        Raises:
            ValueError: Naming ``<cfg_key>.<key>`` and the valid layers.
        """
        names = self.names
        if isinstance(spec, bool) or not isinstance(spec, (int, str)):
            raise ValueError(
                f'{self.cfg_key}.{key}={spec!r} must be a block index or name; {self.message()}'
            )
        if isinstance(spec, int):
            if -len(names) <= spec < len(names):
                return spec % len(names)
        elif spec in self.aliases:
            return self.resolve(self.aliases[spec], key)
        elif spec in names:
            return names.index(spec)
        elif self.submodules is not None and spec and spec in dict(self.submodules.named_modules()):
            return spec
        raise ValueError(
            f'{self.cfg_key}.{key}={spec!r} is not a layer of {self.owner}; {self.message()}'
        )

    def resolve_blocks(
        self, specs: Union[LayerSpec, Sequence[LayerSpec]], key: str
    ) -> Tuple[int, ...]:
        """Sorted, unique block indices of ``specs`` (one spec or many).

        Raises:
            ValueError: For an unknown layer or a submodule that is no block.
        """
        if isinstance(specs, (int, str)):
            specs = (specs,)
        indices = set()
        for spec in specs or ():
            layer = self.resolve(spec, key)
            if not isinstance(layer, int):
                raise ValueError(
                    f'{self.cfg_key}.{key}: {layer!r} is not a block; {self.message()}'
                )
            indices.add(layer)
        return tuple(sorted(indices))

    def name(self, layer: LayerSpec) -> str:
        """The name of a resolved layer (block index or submodule name)."""
        return layer if isinstance(layer, str) else self.names[layer]
