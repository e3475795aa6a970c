"""Segmentors registered in ``mmseg.registry.MODELS``.

* :class:`TransferEncoderDecoder`: mmseg's ``EncoderDecoder`` whose
  backbone's ``init_cfg=dict(type='Pretrained', ...)`` is loaded strictly by
  :func:`mmdiverse.checkpoint.load_pretrained_backbone` (missing or mis-shaped
  backbone keys stop the run; window / image size changes are adapted).
* :class:`DiverseEncoderDecoder`: the same, plus the patch-diversity terms of
  pretraining (same taps, losses and ``loss_*`` keys) on the segmentation
  backbone during fine-tuning.
"""
from .diverse_encoder_decoder import DiverseEncoderDecoder
from .transfer_encoder_decoder import TransferEncoderDecoder

__all__ = ['TransferEncoderDecoder', 'DiverseEncoderDecoder']
