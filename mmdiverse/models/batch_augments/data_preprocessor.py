"""Route per-patch mixing targets from the batch augments to the model.

mmpretrain applies batch augments inside ``ClsDataPreprocessor.forward``
through ``RandomBatchAugment``, whose contract is ``(inputs, scores) ->
(inputs, scores)``; the scores reach the model as each ``DataSample``'s
``gt_score``. Per-patch targets need one more output, so:

* :class:`PatchRandomBatchAugment` (the wrapper, same per-batch choice among
  the augments) has :meth:`~PatchRandomBatchAugment.augment`, which returns
  ``(inputs, scores, patch_targets)``: the ``(B, n, K)`` targets of an
  augment that has them (``mix_with_patch_targets``, i.e.
  :class:`~mmdiverse.models.batch_augments.PatchCutMix`), else None.
* :class:`PatchClsDataPreprocessor` runs the stock preprocessing without the
  batch augment, then the wrapper's ``augment``, and returns the targets as
  one batch tensor under the key ``patch_targets`` of its output. mmengine
  unpacks that output into the model's ``forward(**data, mode='loss')``, so
  the tensor reaches ``DiverseImageClassifier.loss(..., patch_targets)`` as
  an argument: nothing is kept on the wrapper or the preprocessor between
  calls, and the data samples carry labels and ``gt_score`` exactly as in
  mmpretrain.

When the chosen augment is Mixup (or none, or a stock CutMix), the output
has no ``patch_targets`` and the model uses the image-level ``gt_score`` for
every patch, which is exact for Mixup and for unmixed images.
"""
from typing import Optional, Tuple

import numpy as np
import torch
from mmpretrain.models.utils import ClsDataPreprocessor
from mmpretrain.models.utils.batch_augments import RandomBatchAugment
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

#: Key of the ``(B, n, K)`` per-patch targets in the preprocessor's output
#: (and the name of the model's ``forward`` / ``loss`` argument).
PATCH_TARGETS_KEY = 'patch_targets'


class PatchRandomBatchAugment(RandomBatchAugment):
    """``RandomBatchAugment`` that also returns the chosen augment's
    per-patch targets (:meth:`augment`); ``__call__`` keeps the stock
    two-output contract."""

    def augment(self, batch_input: torch.Tensor, batch_score: torch.Tensor
                ) -> Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
        """Choose an augment for this batch (as ``RandomBatchAugment``) and
        apply it.

        Returns:
            tuple: ``(inputs (B, C, H, W), scores (B, K), patch_targets
            (B, n, K) or None)``.
        """
        aug = self.augments[np.random.choice(len(self.augments), p=self.probs)]
        if aug is None:
            return batch_input, batch_score.float(), None
        if hasattr(aug, 'mix_with_patch_targets'):
            return aug.mix_with_patch_targets(batch_input, batch_score.float())
        inputs, scores = aug(batch_input, batch_score)
        return inputs, scores, None

    def __call__(self, batch_input: torch.Tensor, batch_score: torch.Tensor):
        inputs, scores, _ = self.augment(batch_input, batch_score)
        return inputs, scores

    @classmethod
    def from_stock(cls, stock: RandomBatchAugment) -> 'PatchRandomBatchAugment':
        new = cls.__new__(cls)
        new.__dict__.update(stock.__dict__)
        return new


@MODELS.register_module()
class PatchClsDataPreprocessor(ClsDataPreprocessor):
    """``ClsDataPreprocessor`` that also outputs per-patch mixing targets.

    Same arguments and behaviour as :class:`ClsDataPreprocessor`; in
    training, when the batch augment chosen for a batch provides per-patch
    targets (:class:`~mmdiverse.models.batch_augments.PatchCutMix`), the
    output dict also holds ``patch_targets``, a ``(B, n, K)`` float tensor
    (``n`` tokens in row-major order). The model must accept it:
    ``DiverseImageClassifier`` does, and selects this preprocessor
    automatically in place of the default ``ClsDataPreprocessor``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if isinstance(self.batch_augments, RandomBatchAugment) and \
                not isinstance(self.batch_augments, PatchRandomBatchAugment):
            self.batch_augments = PatchRandomBatchAugment.from_stock(
                self.batch_augments)

    def forward(self, data: dict, training: bool = False) -> dict:
        """The stock preprocessing, then the batch augment.

        Returns:
            dict: ``inputs``, ``data_samples`` and, for a batch mixed by an
            augment with per-patch targets, ``patch_targets``.
        """
        if not training or self.batch_augments is None:
            return super().forward(data, training)
        # Everything but the batch augment (batch augments run last in the
        # stock forward and only in training), which gives every sample its
        # one-hot (or dataset-given) ``gt_score``.
        data = super().forward(data, training=False)
        samples = data['data_samples']
        if not samples or not isinstance(samples[0], DataSample) or \
                'gt_score' not in samples[0]:
            return data
        scores = torch.stack([sample.gt_score for sample in samples])
        if isinstance(self.batch_augments, PatchRandomBatchAugment):
            inputs, scores, patch_targets = self.batch_augments.augment(
                data['inputs'], scores)
        else:  # a wrapper assigned after construction: the stock contract
            (inputs, scores), patch_targets = self.batch_augments(
                data['inputs'], scores), None
        for sample, score in zip(samples, scores):
            sample.set_gt_score(score)
        data['inputs'] = inputs
        if patch_targets is not None:
            data[PATCH_TARGETS_KEY] = patch_targets
        return data
