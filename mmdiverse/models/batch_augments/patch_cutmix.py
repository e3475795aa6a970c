"""CutMix aligned to the token grid, with per-patch soft targets."""

from typing import List, Optional, Tuple

import numpy as np
import torch
from mmpretrain.models.utils.batch_augments import CutMix
from mmpretrain.registry import BATCH_AUGMENTS

from .patch_area_targets import (
    BOX_ALIGNMENTS,
    PAIRINGS,
    box_patch_fractions,
    pairing_index,
    patch_soft_targets,
)
from .patch_target_augment import PatchTargetAugment


def _device_box(box: Tuple[int, int, int, int], device) -> torch.Tensor:
    """``(4,)`` float32 box on ``device``, written by fill kernels: a copy
    from (pageable) host memory would make the host wait for the device."""
    return torch.stack([torch.full((), float(v), device=device) for v in box])


@BATCH_AUGMENTS.register_module()
class PatchCutMix(CutMix, PatchTargetAugment):
    r"""CutMix with per-patch soft targets; by default its box is aligned to
    the token grid.

    Used by the patch-mixing loss of `Vision Transformers with Patch
    Diversification <https://arxiv.org/abs/2104.12753>`_: every patch token
    is trained on the label of the image its pixels come from. With the box
    on the token grid (``patch_size`` = stride of the tokens the mixing loss
    reads: 16 for ViT/DeiT-16, 32 for Swin's last stage or a ResNet's last
    map), each token lies wholly inside or outside the box, so its soft
    target is its source image's score, and the image-level score is the
    area-weighted mix of the two:

    .. math::
        \lambda = 1 - \frac{|box|}{h w}, \qquad
        y = \lambda y_a + (1 - \lambda) y_b = \frac{1}{n}\sum_i y_i

    ``lambda`` is always the exact box share (as ``correct_lam=True`` in
    :class:`CutMix`), so the two targets agree. One box per batch. Any input
    whose height and width are multiples of ``patch_size`` works.

    Diverse-ViT's choices (`The Principle of Diversity
    <https://arxiv.org/abs/2203.06345>`_, docs/fidelity.md) are options:
    ``box_alignment='pixel'`` samples the box in pixels as mmpretrain's
    (timm's) CutMix does, and a patch cut by its edge gets the area share of
    each source inside it (:mod:`.patch_area_targets`);
    ``pairing='mirror'`` mixes image ``i`` with image ``B - 1 - i`` (for an
    odd batch the middle image is paired with itself and stays unmixed)
    instead of a random permutation.

    As a plain batch augment (``__call__``) it returns ``(mixed_inputs,
    mixed_scores)`` like every mmpretrain batch augment, so it also works
    inside a stock ``ClsDataPreprocessor`` (as a plain CutMix: the per-patch
    targets are then not made). The per-patch targets come from
    :meth:`mix_with_patch_targets`, which
    :class:`~mmdiverse.models.batch_augments.PatchClsDataPreprocessor`
    calls; they reach the model as the ``patch_targets`` entry of the
    preprocessor's output (one ``(B, n, K)`` tensor, not per data sample).

    Args:
        alpha (float): Beta(alpha, alpha) parameter of the mixing ratio.
        patch_size (int | tuple[int, int]): Token stride in pixels.
            Defaults to 16.
        cutmix_minmax (list[float], optional): Min/max side ratio of the box
            (uniform, in tokens or pixels); ``alpha`` is then ignored.
            Defaults to None.
        box_alignment (str): ``'patch'`` (default: the box on the token
            grid) or ``'pixel'`` (Diverse-ViT: a pixel box, fractional
            targets of boundary patches).
        pairing (str): ``'permutation'`` (default, mmpretrain's
            ``randperm``) or ``'mirror'`` (Diverse-ViT, ``flip(0)``).
    """

    def __init__(
        self,
        alpha: float,
        patch_size=16,
        cutmix_minmax: Optional[List[float]] = None,
        box_alignment: str = 'patch',
        pairing: str = 'permutation',
    ):
        super().__init__(alpha=alpha, cutmix_minmax=cutmix_minmax, correct_lam=True)
        if box_alignment not in BOX_ALIGNMENTS:
            raise ValueError(
                f'PatchCutMix: box_alignment={box_alignment!r}, '
                f'expected one of {list(BOX_ALIGNMENTS)}'
            )
        if pairing not in PAIRINGS:
            raise ValueError(f'PatchCutMix: pairing={pairing!r}, expected one of {list(PAIRINGS)}')
        self.box_alignment = box_alignment
        self.pairing = pairing
        if isinstance(patch_size, int):
            patch_size = (patch_size, patch_size)
        patch_size = tuple(int(p) for p in patch_size)
        if len(patch_size) != 2 or min(patch_size) < 1:
            raise ValueError(
                f'PatchCutMix: patch_size must be a positive int or (h, w), got {patch_size}'
            )
        self.patch_size = patch_size

    def token_grid(self, img_shape: Tuple[int, int]) -> Tuple[int, int]:
        """``(h, w)`` token grid of an input of ``img_shape`` (pixels)."""
        (img_h, img_w), (ph, pw) = tuple(img_shape), self.patch_size
        if img_h % ph or img_w % pw:
            raise ValueError(
                f'PatchCutMix: patch_size={self.patch_size} does not divide '
                f'the input shape {img_h}x{img_w}; resize/crop inputs to a '
                'multiple of patch_size or set patch_size to the token stride'
            )
        return img_h // ph, img_w // pw

    def sample_box(self, grid: Tuple[int, int], lam: float) -> Tuple[int, int, int, int]:
        """A box ``(y1, y2, x1, x2)`` in token units, clipped to ``grid``."""
        gh, gw = grid
        if self.cutmix_minmax is not None:
            lo, hi = self.cutmix_minmax
            cut_h = np.random.randint(int(gh * lo), max(int(gh * hi), int(gh * lo) + 1))
            cut_w = np.random.randint(int(gw * lo), max(int(gw * hi), int(gw * lo) + 1))
            y1 = np.random.randint(0, gh - cut_h + 1)
            x1 = np.random.randint(0, gw - cut_w + 1)
            return y1, y1 + cut_h, x1, x1 + cut_w
        ratio = np.sqrt(1.0 - lam)
        cut_h, cut_w = int(round(gh * ratio)), int(round(gw * ratio))
        cy, cx = np.random.randint(0, gh), np.random.randint(0, gw)
        y1, x1 = cy - cut_h // 2, cx - cut_w // 2
        y1c, y2c = np.clip([y1, y1 + cut_h], 0, gh)
        x1c, x2c = np.clip([x1, x1 + cut_w], 0, gw)
        return int(y1c), int(y2c), int(x1c), int(x2c)

    def mix_with_patch_targets(
        self, batch_inputs: torch.Tensor, batch_scores: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mix a batch and build per-patch soft targets.

        Args:
            batch_inputs (Tensor): ``(B, C, H, W)`` images; ``H`` and ``W``
                multiples of ``patch_size``.
            batch_scores (Tensor): ``(B, K)`` one-hot (or soft) scores.

        Returns:
            tuple: ``mixed_inputs (B, C, H, W)`` (a new tensor; the input is
            not modified), ``mixed_scores (B, K)`` and ``patch_scores (B, n,
            K)`` with ``n = (H / p) * (W / p)`` in row-major token order
            (float, same device as the scores).
        """
        return self._mix(batch_inputs, batch_scores, patch_targets=True)

    def mix(
        self, batch_inputs: torch.Tensor, batch_scores: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """The mmpretrain batch-augment contract: ``(inputs, scores)``."""
        return self._mix(batch_inputs, batch_scores, patch_targets=False)

    def pixel_box(self, img_shape: Tuple[int, int], lam: float) -> Tuple[int, int, int, int]:
        """The box ``(y1, y2, x1, x2)`` in pixels: on the token grid
        (``box_alignment='patch'``) or anywhere (``'pixel'``, mmpretrain's
        ``CutMix.cutmix_bbox_and_lam``)."""
        if self.box_alignment == 'pixel':
            box, _ = self.cutmix_bbox_and_lam(tuple(img_shape), lam)
            return tuple(int(v) for v in box)
        (ph, pw) = self.patch_size
        y1, y2, x1, x2 = self.sample_box(self.token_grid(img_shape), lam)
        return y1 * ph, y2 * ph, x1 * pw, x2 * pw

    def _mix(self, batch_inputs, batch_scores, patch_targets):
        if batch_scores.ndim != 2:
            raise ValueError(
                f'PatchCutMix expects batch scores of shape (B, K), got {tuple(batch_scores.shape)}'
            )
        img_shape = tuple(batch_inputs.shape[-2:])
        self.token_grid(img_shape)  # patch_size must divide the input
        batch_scores = batch_scores.float()
        lam = np.random.beta(self.alpha, self.alpha)
        index = pairing_index(batch_inputs.size(0), self.pairing, device=batch_inputs.device)
        y1, y2, x1, x2 = self.pixel_box(img_shape, lam)

        mixed = batch_inputs.clone()
        mixed[..., y1:y2, x1:x2] = batch_inputs[index, :, y1:y2, x1:x2]

        index = index.to(batch_scores.device)
        lam = 1.0 - (y2 - y1) * (x2 - x1) / float(img_shape[0] * img_shape[1])
        mixed_scores = lam * batch_scores + (1.0 - lam) * batch_scores[index]
        if not patch_targets:
            return mixed, mixed_scores
        # (1, n) share of every patch inside the box (0 or 1 on the grid)
        fractions = box_patch_fractions(
            _device_box((y1, y2, x1, x2), batch_scores.device), img_shape, self.patch_size, 'pixel'
        )
        return mixed, mixed_scores, patch_soft_targets(batch_scores, index, fractions)

    def __repr__(self) -> str:
        return (
            f'{type(self).__name__}(alpha={self.alpha}, patch_size='
            f'{self.patch_size}, cutmix_minmax={self.cutmix_minmax}, '
            f'box_alignment={self.box_alignment!r}, '
            f'pairing={self.pairing!r})'
        )
