"""``EncoderDecoder`` with the patch-diversity terms during fine-tuning."""
import copy
from typing import Dict, Optional

from mmengine.registry import DefaultScope
from mmseg.registry import MODELS
from mmseg.utils import SampleList
from torch import Tensor

from ..diversity import SEGMENTATION_TERMS, DiversityRegularizer
from ..taps import build_tap
from .transfer_encoder_decoder import TransferEncoderDecoder


@MODELS.register_module()
class DiverseEncoderDecoder(TransferEncoderDecoder):
    """Segmentor that keeps the patch-diversity regularizers on while fine-tuning.

    Papers: `Vision Transformers with Patch Diversification
    <https://arxiv.org/abs/2104.12753>`_ and `The Principle of Diversity
    <https://arxiv.org/abs/2203.06345>`_.

    The regularizers of pretraining (:class:`DiverseImageClassifier`) are
    applied to the segmentation backbone through the same
    :class:`~mmdiverse.models.diversity.DiversityRegularizer`: the same
    taps (:mod:`mmdiverse.models.taps`, hooked only inside :meth:`loss`, so
    inference is the stock forward), the same loss modules and the same loss
    keys: ``loss_patch_cos``, ``loss_patch_contrast``, ``loss_attn_div``,
    ``loss_weight_cond``, plus the detached diagnostic ``patch_cos_sim``.
    They are added to mmseg's ``decode.loss_ce`` / ``aux.loss_ce``.
    ``patch_mix`` is not available (it needs a classifier head: the terms
    of ``SEGMENTATION_TERMS``). :meth:`loss` is the stock
    ``EncoderDecoder.loss`` run inside the regularizer's capture, plus the
    terms.

    With a Swin backbone the ``last`` tokens are the last stage after its
    output norm (``norm3``; 16x16 tokens for a 512 crop) and ``first`` is
    the input of the first block of the last stage. With ``diversity=None``
    this is :class:`TransferEncoderDecoder`.

    Args:
        diversity (dict, optional): As for ``DiverseImageClassifier``:
            ``tap`` (``first_layer``, ``attn_layers``, ``type``) and any of
            ``patch_cos``, ``patch_contrast``, ``attn_div``, ``weight_cond``
            (mmpretrain loss configs, e.g. ``dict(type='PatchCosineLoss',
            loss_weight=0.5)``; built in the mmpretrain scope).
        **kwargs: As :class:`TransferEncoderDecoder`.
    """

    def __init__(self, *args, diversity: Optional[dict] = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.diversity = None
        self.diversity_cfg = copy.deepcopy(diversity)
        if diversity:
            # The losses live in mmpretrain's registry; configs of this
            # segmentor run in the mmseg scope.
            with DefaultScope.overwrite_default_scope('mmpretrain'):
                self.diversity = DiversityRegularizer(
                    self.backbone, diversity, cfg_key='model.diversity',
                    supported_terms=SEGMENTATION_TERMS)

    @property
    def with_diversity(self) -> bool:
        return self.diversity is not None

    @property
    def tap(self):
        """The regularizers' tap, or (lazily) a default one on the backbone
        (what ``PatchSimilarityHook`` reads)."""
        if self.diversity is not None:
            return self.diversity.tap
        if getattr(self, '_plain_tap', None) is None:
            self._plain_tap = build_tap(self.backbone)
        return self._plain_tap

    def loss(self, inputs: Tensor, data_samples: SampleList) -> Dict[str, Tensor]:
        """mmseg's decode / auxiliary losses plus the diversity terms."""
        if self.diversity is None:
            return super().loss(inputs, data_samples)
        with self.diversity.capture() as captured:
            losses = super().loss(inputs, data_samples)
        losses.update(self.diversity.compute(captured))
        return losses
