"""``EncoderDecoder`` with the patch-diversity terms during fine-tuning."""

import functools
from typing import Dict, Optional

from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS
from mmseg.utils import SampleList
from torch import Tensor

from ..diversity import SEGMENTATION_TERMS, DiversityMixin
from .transfer_encoder_decoder import StrictBackboneTransfer


@MODELS.register_module()
class DiverseEncoderDecoder(DiversityMixin, StrictBackboneTransfer, EncoderDecoder):
    """Segmentor that keeps the patch-diversity regularizers on while fine-tuning.

    Papers: `Vision Transformers with Patch Diversification
    <https://arxiv.org/abs/2104.12753>`_ and `The Principle of Diversity
    <https://arxiv.org/abs/2203.06345>`_.

    The regularizers of pretraining (``DiverseImageClassifier``) are applied
    to the segmentation backbone through the same
    :class:`~mmdiverse.models.diversity.DiversityMixin`: the same taps
    (hooked only inside :meth:`loss`, so inference is the stock forward), the
    same loss modules and the same loss keys: ``loss_patch_cos``,
    ``loss_patch_contrast``, ``loss_attn_div``, ``loss_weight_cond``, plus
    the detached diagnostic ``patch_cos_sim``, added to mmseg's
    ``decode.loss_ce`` / ``aux.loss_ce``. ``patch_mix`` is not available (it
    needs a classifier head: the terms of ``SEGMENTATION_TERMS``).

    With a Swin backbone the ``last`` tokens are the last stage after its
    output norm (``norm3``; 16x16 tokens for a 512 crop) and ``first`` is
    the input of the first block of the last stage.

    The pretrained backbone is loaded strictly
    (:class:`~mmdiverse.models.segmentors.transfer_encoder_decoder.StrictBackboneTransfer`)
    unless ``strict_transfer=False``, which leaves a ``Pretrained`` entry of
    the backbone's ``init_cfg`` to mmengine's own (non-strict) loading. With
    ``diversity=None`` this is :class:`TransferEncoderDecoder`.

    Args:
        diversity (dict, optional): As for ``DiverseImageClassifier``:
            ``tap`` (``first_layer``, ``attn_layers``, ``type``) and any of
            ``patch_cos``, ``patch_contrast``, ``attn_div``, ``weight_cond``
            (mmpretrain loss configs, e.g. ``dict(type='PatchCosineLoss',
            loss_weight=0.5)``).
        backbone_transfer (dict, optional): As for ``TransferEncoderDecoder``.
        strict_transfer (bool): Load the backbone strictly. Defaults to True.
        **kwargs: As :class:`mmseg.models.EncoderDecoder`.
    """

    diversity_terms = SEGMENTATION_TERMS
    diversity_cfg_key = 'model.diversity'

    def __init__(
        self,
        *args,
        diversity: Optional[dict] = None,
        backbone_transfer: Optional[dict] = None,
        strict_transfer: bool = True,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.strict_transfer = strict_transfer
        if strict_transfer:
            self.init_backbone_transfer(backbone_transfer)
        elif backbone_transfer:
            raise ValueError('model.backbone_transfer needs strict_transfer=True')
        self.init_diversity(diversity)

    def loss(self, inputs: Tensor, data_samples: SampleList) -> Dict[str, Tensor]:
        """mmseg's decode / auxiliary losses plus the diversity terms."""
        return self.diversity_loss(functools.partial(super().loss, inputs, data_samples))
