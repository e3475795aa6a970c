"""Route per-patch mixing targets from the batch augments to the model.

mmpretrain applies batch augments inside ``ClsDataPreprocessor.forward``
through ``RandomBatchAugment``, whose contract is ``(inputs, scores) ->
(inputs, scores)``; the scores then reach the model as ``gt_score`` of each
``DataSample``. Per-patch targets follow the same route: this preprocessor
swaps the wrapper for :class:`PatchRandomBatchAugment`, which asks an
augment that can (``mix_with_patch_targets``, i.e. :class:`PatchCutMix`)
for its ``(B, n, K)`` targets, and writes them to each data sample as
``gt_patch_score`` (``(n, K)``). Nothing is cached across batches, the
per-batch choice among augments stays the wrapper's, and labels keep
flowing through the data samples as everywhere else in mmpretrain.

When the chosen augment is Mixup (or none, or a stock CutMix), no
``gt_patch_score`` is set and the model uses the image-level ``gt_score``
for every patch, which is exact for Mixup and for unmixed images.
"""
from typing import List, Optional

import numpy as np
import torch
from mmpretrain.models.utils import ClsDataPreprocessor
from mmpretrain.models.utils.batch_augments import RandomBatchAugment
from mmpretrain.registry import MODELS

#: Data-sample field holding the ``(n, K)`` per-patch soft targets.
PATCH_SCORE_FIELD = 'gt_patch_score'


class PatchRandomBatchAugment(RandomBatchAugment):
    """``RandomBatchAugment`` that keeps the chosen augment's per-patch
    targets of the current batch in :attr:`patch_scores` (``None`` when the
    chosen augment has none)."""

    patch_scores: Optional[torch.Tensor] = None

    def __call__(self, batch_input: torch.Tensor, batch_score: torch.Tensor):
        aug = self.augments[np.random.choice(len(self.augments),
                                             p=self.probs)]
        self.patch_scores = None
        if aug is None:
            return batch_input, batch_score.float()
        if hasattr(aug, 'mix_with_patch_targets'):
            inputs, scores, self.patch_scores = aug.mix_with_patch_targets(
                batch_input, batch_score.float())
            return inputs, scores
        return aug(batch_input, batch_score)

    @classmethod
    def from_stock(cls,
                   stock: RandomBatchAugment) -> 'PatchRandomBatchAugment':
        new = cls.__new__(cls)
        new.__dict__.update(stock.__dict__)
        return new

    def pop_patch_scores(self) -> Optional[torch.Tensor]:
        scores, self.patch_scores = self.patch_scores, None
        return scores


@MODELS.register_module()
class PatchClsDataPreprocessor(ClsDataPreprocessor):
    """``ClsDataPreprocessor`` that also passes per-patch mixing targets.

    Same arguments and behaviour as :class:`ClsDataPreprocessor`; in
    training, when the batch augment chosen for a batch provides per-patch
    targets (:class:`PatchCutMix`), each data sample gets
    ``gt_patch_score`` of shape ``(n, K)`` (a view into one ``(B, n, K)``
    tensor). ``DiverseImageClassifier`` selects it automatically in place of
    the default ``ClsDataPreprocessor``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if isinstance(self.batch_augments, RandomBatchAugment) and \
                not isinstance(self.batch_augments, PatchRandomBatchAugment):
            self.batch_augments = PatchRandomBatchAugment.from_stock(
                self.batch_augments)

    def forward(self, data: dict, training: bool = False) -> dict:
        augments = self.batch_augments
        if isinstance(augments, PatchRandomBatchAugment):
            augments.patch_scores = None
        data = super().forward(data, training)
        if isinstance(augments, PatchRandomBatchAugment):
            patch_scores = augments.pop_patch_scores()
            samples = data.get('data_samples')
            if patch_scores is not None and samples is not None:
                for sample, score in zip(samples, patch_scores):
                    sample.set_field(score, PATCH_SCORE_FIELD,
                                     dtype=torch.Tensor)
        return data


def stack_patch_scores(data_samples: List) -> Optional[torch.Tensor]:
    """``(B, n, K)`` per-patch targets of a batch, or None if absent.

    Reuses the batch tensor the preprocessor sliced the samples' views from
    when possible (no copy), else stacks.
    """
    if not data_samples or PATCH_SCORE_FIELD not in data_samples[0]:
        return None
    rows = [s.get(PATCH_SCORE_FIELD) for s in data_samples]
    if any(r is None for r in rows):
        raise ValueError(f'only some data samples carry {PATCH_SCORE_FIELD}')
    base = rows[0]._base
    if (base is not None and base.dim() == 3 and base.shape[0] == len(rows)
            and base.shape[1:] == rows[0].shape and base.is_contiguous()
            and all(r._base is base and r.data_ptr() == base[i].data_ptr()
                    for i, r in enumerate(rows))):
        return base
    return torch.stack(rows)
