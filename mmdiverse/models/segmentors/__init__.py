"""Segmentors registered in ``mmseg.registry.MODELS``.

* :class:`TransferEncoderDecoder`: mmseg's ``EncoderDecoder`` whose
  backbone's ``init_cfg=dict(type='Pretrained', ...)`` is loaded strictly
  (:class:`StrictBackboneTransfer`: missing or mis-shaped backbone keys stop
  the run; window / image size changes are adapted).
* :class:`DiverseEncoderDecoder`: the patch-diversity terms of pretraining
  (same taps, losses and ``loss_*`` keys, through ``DiversityMixin``) on the
  segmentation backbone during fine-tuning, with the strict transfer too
  (``strict_transfer=False``: mmengine's own loading).
"""

from .diverse_encoder_decoder import DiverseEncoderDecoder
from .transfer_encoder_decoder import StrictBackboneTransfer, TransferEncoderDecoder

__all__ = ['StrictBackboneTransfer', 'TransferEncoderDecoder', 'DiverseEncoderDecoder']
