"""Strict loading of a pretrained backbone, for any segmentor.

:class:`StrictBackboneTransfer` is a mixin (ahead of an mmseg segmentor in
the bases); :class:`TransferEncoderDecoder` is mmseg's ``EncoderDecoder``
with it. It is independent of the diversity terms
(:class:`~mmdiverse.models.diversity.DiversityMixin`): a segmentor can have
either, both (``DiverseEncoderDecoder``) or neither.
"""

import copy
import logging
from typing import Optional

from mmengine.logging import print_log
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS

from ...checkpoint.backbone_loading import TransferReport, load_pretrained_backbone

_TRANSFER_KEYS = ('new_keys', 'dropped_keys')
_PRETRAINED_KEYS = ('type', 'checkpoint', 'prefix', 'map_location')


class StrictBackboneTransfer:
    """Loads the backbone's ``Pretrained`` checkpoint strictly in
    :meth:`init_weights` (mixin of an mmseg segmentor).

    The pretrained backbone is given the usual mmseg way, as the backbone's
    ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')``.
    :meth:`init_backbone_transfer` takes that entry out of the backbone's
    ``init_cfg`` (so mmengine does not load it with ``strict=False``) and
    :meth:`init_weights` (called by the runner before training) runs
    mmengine's initialisation and then loads it with
    :func:`mmdiverse.checkpoint.load_pretrained_backbone`: relative position
    bias tables and position embeddings are resized to the new window / image
    size, and any backbone tensor that is missing or mis-shaped (beyond
    ``backbone_transfer.new_keys``) or any checkpoint tensor left unused
    (beyond ``backbone_transfer.dropped_keys``) raises
    :class:`~mmdiverse.checkpoint.BackboneLoadError` naming the keys. The log
    states how many tensors were loaded (``Backbone transfer: loaded N/M
    tensors ...``), after mmengine's per-parameter initialisation record
    (which is written before the transfer). Testing (``tools/test.py``)
    loads the whole segmentation checkpoint instead and does not read the
    backbone checkpoint.

    Attributes:
        backbone_transfer (dict): ``new_keys`` / ``dropped_keys`` regexes.
        backbone_pretrained (dict | None): The taken ``Pretrained`` entry.
        transfer_report (TransferReport | None): What the last load did.
    """

    #: False: leave the backbone's initialisation to mmengine entirely.
    strict_transfer: bool = True
    backbone_pretrained: Optional[dict] = None
    transfer_report: Optional[TransferReport] = None

    def init_backbone_transfer(self, backbone_transfer: Optional[dict] = None) -> None:
        """Check ``backbone_transfer`` and take the ``Pretrained`` entry.

        Args:
            backbone_transfer (dict, optional): ``new_keys`` and
                ``dropped_keys``, lists of regexes (full match, without the
                prefix). Defaults to both empty: every backbone tensor must
                be in the checkpoint and every checkpoint backbone tensor
                must be used.
        """
        transfer = dict(backbone_transfer or {})
        unknown = sorted(set(transfer) - set(_TRANSFER_KEYS))
        if unknown:
            raise ValueError(
                f'model.backbone_transfer: unknown keys {unknown}; allowed: {list(_TRANSFER_KEYS)}'
            )
        self.backbone_transfer = {k: list(transfer.get(k) or ()) for k in _TRANSFER_KEYS}
        self.backbone_pretrained = self._take_pretrained_cfg()
        self.transfer_report = None

    def _take_pretrained_cfg(self) -> Optional[dict]:
        """Remove the ``Pretrained`` entry from the backbone's ``init_cfg``."""
        init_cfg = getattr(self.backbone, 'init_cfg', None)
        if not init_cfg:
            return None
        cfgs = [init_cfg] if isinstance(init_cfg, dict) else list(init_cfg)
        pretrained = [c for c in cfgs if c.get('type') == 'Pretrained']
        if not pretrained:
            return None
        if len(pretrained) > 1:
            raise ValueError('model.backbone.init_cfg has more than one Pretrained entry')
        cfg = dict(copy.deepcopy(pretrained[0]))
        unknown = sorted(set(cfg) - set(_PRETRAINED_KEYS))
        if unknown or not cfg.get('checkpoint'):
            raise ValueError(
                'model.backbone.init_cfg: a Pretrained entry needs `checkpoint` '
                f'and accepts {list(_PRETRAINED_KEYS)}; got {sorted(cfg)}'
            )
        rest = [c for c in cfgs if c.get('type') != 'Pretrained']
        self.backbone.init_cfg = (rest[0] if len(rest) == 1 else rest) if rest else None
        cfg.pop('type')
        return cfg

    def init_weights(self):
        """mmengine's initialisation, then (on the first call) the strict
        backbone transfer."""
        first_call = not self.is_init
        super().init_weights()
        if not (first_call and self.strict_transfer):
            return
        if self.backbone_pretrained is None:
            print_log(
                'Backbone transfer: no Pretrained init_cfg on the backbone; it '
                'starts from its random initialisation.',
                logger='current',
                level=logging.WARNING,
            )
            return
        self.transfer_report = load_pretrained_backbone(
            self.backbone, **self.backbone_pretrained, **self.backbone_transfer
        )


@MODELS.register_module()
class TransferEncoderDecoder(StrictBackboneTransfer, EncoderDecoder):
    """mmseg ``EncoderDecoder`` whose pretrained backbone cannot silently
    fail to load (:class:`StrictBackboneTransfer`).

    Args:
        backbone_transfer (dict, optional): ``new_keys`` and ``dropped_keys``
            (see :meth:`StrictBackboneTransfer.init_backbone_transfer`).
        **kwargs: As :class:`mmseg.models.EncoderDecoder`.
    """

    def __init__(self, *args, backbone_transfer: Optional[dict] = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.init_backbone_transfer(backbone_transfer)
