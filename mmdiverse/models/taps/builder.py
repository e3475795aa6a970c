"""Tap registry, type inference from the backbone, and :func:`build_tap`."""

from typing import List, Optional

import torch.nn as nn
from mmengine.registry import Registry

from .base import BaseTap

#: Registry of tap classes (``tap=dict(type='SwinTap', ...)``). Taps are not
#: ``nn.Module``s: they hold a reference to a backbone owned elsewhere.
TAPS = Registry('tap', scope='mmdiverse')

# Taps tried, in order, when the config gives no ``type``.
_INFERENCE_ORDER: List[type] = []


def register_tap(infer: bool = True, priority: int = 50):
    """Register a tap class in :data:`TAPS`.

    Args:
        infer (bool): Also try the class in :func:`infer_tap_type`, through
            its ``matches(backbone)`` classmethod. Defaults to True.
        priority (int): Order of that trial (lower first). Defaults to 50.
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
    raise ValueError(
        f'no tap matches backbone {type(backbone).__name__}; '
        f'give tap=dict(type=...) with one of '
        f'{sorted(TAPS.module_dict)}'
    )


def build_tap(backbone: nn.Module, cfg: Optional[dict] = None, **kwargs) -> BaseTap:
    """Build a tap for ``backbone``.

    A tap *family* (``TimmTap``) picks the tap of the backbone's kind
    through :meth:`BaseTap.select`.

    Args:
        backbone (nn.Module): A built backbone.
        cfg (dict, optional): Tap config; ``type`` is optional (inferred
            from the backbone class, see :func:`infer_tap_type`).
        **kwargs: Merged over ``cfg``: ``first_layer``, ``attn_layers``,
            ``per_layer``, ``similarity_tokens``, ``cfg_key``.

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
            raise ValueError(
                f'unknown tap type {tap_type!r}; registered: {sorted(TAPS.module_dict)}'
            )
    else:
        cls = tap_type
    return cls.select(backbone)(backbone, **args)
