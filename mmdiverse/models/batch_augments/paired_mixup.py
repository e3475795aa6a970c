"""Mixup with a choice of how images are paired (Diverse-ViT's mirror)."""

from typing import Tuple

import numpy as np
import torch
from mmpretrain.models.utils.batch_augments import Mixup
from mmpretrain.registry import BATCH_AUGMENTS

from .patch_area_targets import PAIRINGS, pairing_index


@BATCH_AUGMENTS.register_module()
class PairedMixup(Mixup):
    r"""mmpretrain's ``Mixup`` whose image pairs are a named option.

    .. math::
        x = \lambda x_b + (1 - \lambda) x_{index[b]}, \qquad
        y = \lambda y_b + (1 - \lambda) y_{index[b]}, \qquad
        \lambda \sim \mathrm{Beta}(\alpha, \alpha)

    ``pairing='permutation'`` (default) is exactly mmpretrain's ``Mixup``
    (a random permutation). ``pairing='mirror'`` is Diverse-ViT's (`The
    Principle of Diversity <https://arxiv.org/abs/2203.06345>`_, timm's
    ``flip(0)``, docs/fidelity.md): image ``b`` is mixed with image
    ``B - 1 - b``; for an odd batch the middle image is paired with itself
    and stays unmixed. Under Mixup every patch takes the image's mixed target
    (``DiverseImageClassifier`` does this when a batch has no per-patch
    targets).

    Args:
        alpha (float): Beta(alpha, alpha) parameter of the mixing ratio.
        pairing (str): ``'permutation'`` or ``'mirror'``.
            Defaults to ``'permutation'``.
    """

    def __init__(self, alpha: float, pairing: str = 'permutation'):
        super().__init__(alpha=alpha)
        if pairing not in PAIRINGS:
            raise ValueError(f'PairedMixup: pairing={pairing!r}, expected one of {list(PAIRINGS)}')
        self.pairing = pairing

    def mix(
        self, batch_inputs: torch.Tensor, batch_scores: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Mix ``(B, C, H, W)`` inputs and ``(B, K)`` scores.

        Returns:
            tuple: The mixed inputs and scores.
        """
        if self.pairing == 'permutation':
            return super().mix(batch_inputs, batch_scores)
        lam = np.random.beta(self.alpha, self.alpha)
        index = pairing_index(batch_inputs.size(0), self.pairing, device=batch_inputs.device)
        mixed_inputs = lam * batch_inputs + (1 - lam) * batch_inputs[index]
        index = index.to(batch_scores.device)
        mixed_scores = lam * batch_scores + (1 - lam) * batch_scores[index]
        return mixed_inputs, mixed_scores

    def __repr__(self) -> str:
        return f'{type(self).__name__}(alpha={self.alpha}, pairing={self.pairing!r})'
