"""Route per-patch mixing targets from the batch augments to the model.

mmpretrain applies batch augments inside ``ClsDataPreprocessor.forward``
through ``RandomBatchAugment``, whose contract is ``(inputs, scores) ->
(inputs, scores)``; the scores reach the model as each ``DataSample``'s
``gt_score``. Per-patch targets need one more output, so:

* :class:`PatchRandomBatchAugment` (the wrapper, same per-batch choice among
  the augments) keeps the two-output contract and records, for the batch it
  just mixed, the chosen augment and the ``(B, n, K)`` per-patch targets of
  a :class:`~mmdiverse.models.batch_augments.PatchTargetAugment`
  (:class:`~mmdiverse.models.batch_augments.PatchCutMix`) in a
  :class:`MixRecord`;
* :class:`PatchClsDataPreprocessor` runs the stock preprocessing and takes
  that record right after it: the targets go out as one batch tensor under
  the key ``patch_targets`` of its output, which mmengine unpacks into the
  model's ``forward(**data, mode='loss')``, so they reach
  ``DiverseImageClassifier.loss(..., patch_targets)`` as an argument. They
  are not written into the data samples; what the samples get is the name
  of an augment that moved pixels between images (``batch_augment`` in
  their metainfo), so a model can refuse such a batch when its per-patch
  targets are missing.

Under Mixup (or no augment) every patch's target is its image's
``gt_score``, exactly; the output then has no ``patch_targets``.
"""

import copy
import dataclasses
from typing import List, Optional, Tuple

import numpy as np
import torch
from mmpretrain.models.utils import ClsDataPreprocessor
from mmpretrain.models.utils.batch_augments import CutMix, Mixup, RandomBatchAugment
from mmpretrain.registry import MODELS

from .patch_target_augment import PatchTargetAugment

#: Key of the ``(B, n, K)`` per-patch targets in the preprocessor's output
#: (and the name of the model's ``forward`` / ``loss`` argument).
PATCH_TARGETS_KEY = 'patch_targets'
#: Metainfo key of a data sample: the augment that moved pixels between the
#: images of its batch (absent for Mixup or no augment).
BATCH_AUGMENT_KEY = 'batch_augment'


def moves_pixels(augment) -> bool:
    """Whether ``augment`` pastes image regions (CutMix, ResizeMix, ...), so
    that a patch's target is not its image's mixed score (Mixup blends whole
    images: it is). mmpretrain's ``CutMix`` subclasses ``Mixup``."""
    return augment is not None and (isinstance(augment, CutMix) or not isinstance(augment, Mixup))


@dataclasses.dataclass
class MixRecord:
    """What the batch augment did to one batch.

    Attributes:
        augment (str | None): Type name of the augment that moved pixels
            between images, or None (Mixup, no augment).
        patch_targets (Tensor | None): ``(B, n, K)`` per-patch soft targets
            of a :class:`PatchTargetAugment`.
    """

    augment: Optional[str] = None
    patch_targets: Optional[torch.Tensor] = None


class PatchRandomBatchAugment(RandomBatchAugment):
    """``RandomBatchAugment`` that records what it did to the last batch
    (:meth:`take_record`); ``__call__`` keeps the stock two-output contract
    and the stock random choice."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._record: Optional[MixRecord] = None

    def __call__(self, batch_input: torch.Tensor, batch_score: torch.Tensor):
        aug = self.augments[np.random.choice(len(self.augments), p=self.probs)]
        record = MixRecord(type(aug).__name__ if moves_pixels(aug) else None)
        if aug is None:
            inputs, scores = batch_input, batch_score.float()
        elif isinstance(aug, PatchTargetAugment):
            inputs, scores, record.patch_targets = aug.mix_with_patch_targets(
                batch_input, batch_score.float()
            )
        else:
            inputs, scores = aug(batch_input, batch_score)
        self._record = record
        return inputs, scores

    def take_record(self) -> Optional[MixRecord]:
        """The record of the last batch, once (None if none was mixed since)."""
        record, self._record = self._record, None
        return record

    def indexed(self) -> List[Tuple[int, object]]:
        """``[(index in train_cfg.augments, augment), ...]``, without the
        "no augment" choice ``probs`` may add."""
        return [(i, aug) for i, aug in enumerate(self.augments) if aug is not None]


@MODELS.register_module()
class PatchClsDataPreprocessor(ClsDataPreprocessor):
    """``ClsDataPreprocessor`` that also outputs per-patch mixing targets.

    Same arguments and behaviour as :class:`ClsDataPreprocessor`, with its
    batch augments wrapped in :class:`PatchRandomBatchAugment`. In training,
    when the augment chosen for a batch is a :class:`PatchTargetAugment`
    (:class:`~mmdiverse.models.batch_augments.PatchCutMix`), the output dict
    also holds ``patch_targets``, a ``(B, n, K)`` float tensor (``n`` tokens
    in row-major order); when it moves pixels between images, every data
    sample's metainfo names it (``batch_augment``). The model must accept
    ``patch_targets``: ``DiverseImageClassifier`` does, and uses this
    preprocessor when the config gives none or no ``type``.
    """

    def __init__(self, **kwargs):
        # RandomBatchAugment appends to ``probs`` in place: keep a clean copy.
        augments = copy.deepcopy(kwargs.get('batch_augments'))
        super().__init__(**kwargs)
        if self.batch_augments is not None:
            self.batch_augments = PatchRandomBatchAugment(**augments)

    def forward(self, data: dict, training: bool = False) -> dict:
        """The stock preprocessing (batch augment included).

        Returns:
            dict: ``inputs``, ``data_samples`` and, for a batch mixed by a
            :class:`PatchTargetAugment`, ``patch_targets``.
        """
        data = super().forward(data, training)
        augments = self.batch_augments
        record = augments.take_record() if isinstance(augments, PatchRandomBatchAugment) else None
        if record is None:
            return data
        if record.augment is not None:
            for sample in data['data_samples']:
                sample.set_metainfo({BATCH_AUGMENT_KEY: record.augment})
        if record.patch_targets is not None:
            data[PATCH_TARGETS_KEY] = record.patch_targets
        return data
