"""Step 2: convert a state dict's key layout to the one our configs load.

``read -> convert -> adapt -> check/load -> export``. Every config of this
project loads one of two *pivot* layouts: mmpretrain's ``ImageClassifier``
(``backbone.*``, ``head.*``; classifiers and backbone transfer) and our
mmseg 1.x segmentors (``backbone.*`` with an mmpretrain backbone,
``decode_head.*``, ``auxiliary_head.*``). One module per source layout, each
with ``detect``, ``to_<pivot>`` and ``from_<pivot>``:

* ``mmseg0-swin`` (pivot mmseg): mmseg 0.x ``EncoderDecoder`` with a
  Microsoft Swin backbone (the Patch-Diversification fork's UperNet ADE20K /
  Cityscapes releases);
* ``mmpretrain`` (pivot mmpretrain): mmpretrain / mmcls model zoo and this
  project's checkpoints;
* ``swin-official`` (mmpretrain): Microsoft Swin
  (``swin_large_patch4_window12_384_22k.pth``, the fork's Swin-L ImageNet
  release);
* ``timm-swin`` (mmpretrain): timm >= 0.9 ``swin_*`` state dicts;
* ``timm-vit`` (mmpretrain): timm ``vit_*`` / ``deit_*`` (also distilled).

Formats with the same pivot convert into each other through it. This package
works on state dicts only; files are read by :mod:`..read` and written by
:mod:`..export`.
"""

from collections import OrderedDict
from typing import Mapping, Tuple

import torch

from ..read import strip_prefix
from . import mmpretrain_zoo, mmseg0_swin, swin_official, timm_swin, timm_vit
from .common import ConversionReport, Rule, StateDict

#: Detection order matters: the segmentation layout first (its backbone keys
#: also start with ``backbone.``), then mmpretrain keys, the most specific.
FORMATS = OrderedDict(
    [
        (mmseg0_swin.NAME, mmseg0_swin),
        (mmpretrain_zoo.NAME, mmpretrain_zoo),
        (swin_official.NAME, swin_official),
        (timm_swin.NAME, timm_swin),
        (timm_vit.NAME, timm_vit),
    ]
)
#: The layouts our configs load; ``'mmpretrain'`` is also a source format.
PIVOTS = ('mmpretrain', 'mmseg')
ALIASES = {
    'mmpretrain-zoo': 'mmpretrain',
    'mmcls': 'mmpretrain',
    'mmdiverse': 'mmpretrain',
    'swin': 'swin-official',
    'microsoft-swin': 'swin-official',
    'timm-deit': 'timm-vit',
    'timm-vit-deit': 'timm-vit',
    'mmseg0': 'mmseg0-swin',
    'mmseg-0.x-swin': 'mmseg0-swin',
    'mmseg1': 'mmseg',
}


def canonical_format(name: str) -> str:
    """The format name behind an alias; raises ``ValueError`` for unknown ones."""
    name = ALIASES.get(name, name)
    if name not in FORMATS and name not in PIVOTS:
        raise ValueError(
            f'unknown checkpoint format {name!r}; choose from '
            f'{", ".join(list(FORMATS) + ["mmseg"] + sorted(ALIASES))}'
        )
    return name


def pivot_of(name: str) -> str:
    """The pivot layout a format converts to (``'mmpretrain'`` or ``'mmseg'``)."""
    name = canonical_format(name)
    return name if name == 'mmseg' else getattr(FORMATS[name], 'PIVOT', 'mmpretrain')


def detect_format(state_dict: Mapping[str, torch.Tensor]) -> str:
    """Name of the layout of ``state_dict`` (see :data:`FORMATS`)."""
    for name, module in FORMATS.items():
        if module.detect(state_dict):
            return name
    sample = ', '.join(list(state_dict)[:6])
    raise ValueError(
        f'unrecognised checkpoint layout (keys: {sample}, ...); '
        f'give the source format ({", ".join(FORMATS)})'
    )


def convert_state_dict(
    state_dict: Mapping[str, torch.Tensor], src: str = 'auto', dst: str = 'auto'
) -> Tuple[StateDict, ConversionReport]:
    """Convert ``state_dict`` from layout ``src`` to layout ``dst``.

    Args:
        state_dict: Flat dict of tensors (see :func:`..read.extract_state_dict`).
        src: Source format or ``'auto'`` (:func:`detect_format`).
        dst: Target format, or ``'auto'``: the source's pivot, the layout
            our configs load.

    Returns:
        tuple: The converted state dict and a :class:`ConversionReport`.

    Raises:
        ValueError: unknown formats, or ``src`` and ``dst`` with different
            pivots (a segmentor cannot become a classifier).
    """
    state_dict = strip_prefix(state_dict, 'module.')
    src = detect_format(state_dict) if src == 'auto' else canonical_format(src)
    pivot = pivot_of(src)
    dst = pivot if dst == 'auto' else canonical_format(dst)
    if pivot_of(dst) != pivot:
        raise ValueError(
            f'cannot convert {src} (a {pivot} layout) to {dst} (a {pivot_of(dst)} layout)'
        )
    if src in FORMATS:
        out, report = getattr(FORMATS[src], f'to_{pivot}')(state_dict)
    else:  # the pivot layout itself
        out = OrderedDict(state_dict)
        report = ConversionReport(src, pivot, mapped=[(k, k, '') for k in state_dict])
    if dst == pivot:
        return out, report
    out, second = getattr(FORMATS[dst], f'from_{pivot}')(out)
    return out, report.merge(second)


__all__ = [
    'ALIASES',
    'FORMATS',
    'PIVOTS',
    'ConversionReport',
    'Rule',
    'canonical_format',
    'convert_state_dict',
    'detect_format',
    'mmpretrain_zoo',
    'mmseg0_swin',
    'pivot_of',
    'swin_official',
    'timm_swin',
    'timm_vit',
]
