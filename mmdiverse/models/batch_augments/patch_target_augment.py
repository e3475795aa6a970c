"""The interface of batch augments that also yield per-patch targets."""

import abc
from typing import Tuple

import torch


class PatchTargetAugment(abc.ABC):
    """A batch augment that moves pixels between images and says, for every
    patch, which share of it came from which image.

    :class:`~mmdiverse.models.batch_augments.PatchRandomBatchAugment` calls
    :meth:`mix_with_patch_targets` instead of the stock two-output
    ``__call__`` for these augments.
    """

    @abc.abstractmethod
    def mix_with_patch_targets(
        self, batch_inputs: torch.Tensor, batch_scores: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mix ``(B, C, H, W)`` inputs and ``(B, K)`` scores.

        Returns:
            tuple: ``(inputs (B, C, H, W), scores (B, K), patch_targets
            (B, n, K))``, patches in row-major token order.
        """
