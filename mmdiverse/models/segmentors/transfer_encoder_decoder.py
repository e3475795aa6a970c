"""``EncoderDecoder`` with strict loading of a pretrained backbone."""
import copy
import logging
from typing import Optional

from mmengine.logging import print_log
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS

from ...checkpoint.backbone_loading import TransferReport, load_pretrained_backbone

_TRANSFER_KEYS = ('new_keys', 'dropped_keys')
_PRETRAINED_KEYS = ('type', 'checkpoint', 'prefix', 'map_location')


@MODELS.register_module()
class TransferEncoderDecoder(EncoderDecoder):
    """mmseg ``EncoderDecoder`` whose pretrained backbone cannot silently fail.

    The pretrained backbone is given the usual mmseg way, as the backbone's
    ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')``.
    This segmentor takes that entry out of the backbone's ``init_cfg`` (so
    mmengine does not load it with ``strict=False``) and, in
    :meth:`init_weights` (called by the runner before training), loads it with
    :func:`mmdiverse.checkpoint.load_pretrained_backbone`: relative position
    bias tables and position embeddings are resized to the new window / image
    size, and any backbone tensor that is missing or mis-shaped (beyond
    ``backbone_transfer.new_keys``) or any checkpoint tensor left unused
    (beyond ``backbone_transfer.dropped_keys``) raises
    :class:`~mmdiverse.checkpoint.BackboneLoadError` naming the keys. The log
    states how many tensors were loaded (``Backbone transfer: loaded N/M
    tensors ...``). Testing (``tools/test.py``) loads the whole segmentation
    checkpoint instead and does not read the backbone checkpoint.

    Args:
        backbone_transfer (dict, optional): ``new_keys`` and ``dropped_keys``,
            lists of regexes (full match, without the prefix). Defaults to
            both empty: every backbone tensor must be in the checkpoint and
            every checkpoint backbone tensor must be used.
        **kwargs: As :class:`mmseg.models.EncoderDecoder`.

    Attributes:
        transfer_report (TransferReport | None): What the last load did.
    """

    def __init__(self, *args, backbone_transfer: Optional[dict] = None, **kwargs):
        super().__init__(*args, **kwargs)
        transfer = dict(backbone_transfer or {})
        unknown = sorted(set(transfer) - set(_TRANSFER_KEYS))
        if unknown:
            raise ValueError(f'model.backbone_transfer: unknown keys {unknown}; '
                             f'allowed: {list(_TRANSFER_KEYS)}')
        self.backbone_transfer = {k: list(transfer.get(k) or ()) for k in _TRANSFER_KEYS}
        self.backbone_pretrained = self._take_pretrained_cfg()
        self.transfer_report: Optional[TransferReport] = None

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
            raise ValueError('model.backbone.init_cfg: a Pretrained entry needs `checkpoint` '
                             f'and accepts {list(_PRETRAINED_KEYS)}; got {sorted(cfg)}')
        rest = [c for c in cfgs if c.get('type') != 'Pretrained']
        self.backbone.init_cfg = (rest[0] if len(rest) == 1 else rest) if rest else None
        cfg.pop('type')
        return cfg

    def init_weights(self):
        """mmengine's initialisation, then the strict backbone transfer.

        The transfer runs right after the backbone's own ``init_weights``
        (inside mmengine's pass over the children), so the initialisation
        record mmengine writes to the log names the checkpoint for every
        loaded parameter.
        """
        if self.is_init or self.backbone_pretrained is None:
            if not self.is_init:
                print_log('Backbone transfer: no Pretrained init_cfg on the backbone; it '
                          'starts from its random initialisation.', logger='current',
                          level=logging.WARNING)
            super().init_weights()
            return
        backbone = self.backbone
        own_init = backbone.init_weights

        def init_then_transfer():
            own_init()
            self.transfer_report = load_pretrained_backbone(
                backbone, **self.backbone_pretrained, **self.backbone_transfer)
            self._record_transfer(backbone)

        backbone.init_weights = init_then_transfer
        try:
            super().init_weights()
        finally:
            del backbone.init_weights  # the instance attribute; the method is back
        if self.transfer_report is None:  # the backbone had been initialised before
            self.transfer_report = load_pretrained_backbone(
                backbone, **self.backbone_pretrained, **self.backbone_transfer)

    def _record_transfer(self, backbone) -> None:
        """Note the transfer in mmengine's per-parameter initialisation record."""
        info = getattr(backbone, '_params_init_info', None)
        if info is None:
            return
        loaded = set(self.transfer_report.loaded)
        source = self.backbone_pretrained['checkpoint']
        for name, param in backbone.named_parameters():
            if name in loaded and param in info:
                info[param]['init_info'] = f'Loaded from {source} (strict backbone transfer)'
                info[param]['tmp_mean_value'] = param.data.mean().cpu()
