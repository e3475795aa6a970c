"""Patch mixing through a classifier head, as one term.

The patch-mixing term of `Vision Transformers with Patch Diversification
<https://arxiv.org/abs/2104.12753>`_ trains every last-layer patch token
(after the backbone's final norm) through the classifier's own final linear
layer on the label of the image its pixels come from.
:class:`PatchMixingTerm` owns everything that takes:

* the head adapter (:meth:`~PatchMixingTerm.logits`):
  ``VisionTransformerClsHead``: ``layers.head`` (after ``layers.pre_logits``
  and ``layers.act`` when ``hidden_dim`` is set); ``LinearClsHead`` (and
  other heads with an ``fc`` Linear): ``fc``. A parameter-free neck (e.g.
  ``GlobalAveragePooling``) is skipped, which is exact for average pooling
  (the head is linear);
* label smoothing (the head's ``LabelSmoothLoss`` epsilon, or
  ``diversity.patch_label_smooth``);
* the per-patch targets (:meth:`~PatchMixingTerm.targets`): the batch's
  ``(B, n, K)`` targets from a ``PatchCutMix`` batch, else every patch takes
  its image's ``gt_score`` (Mixup, no mix) or one-hot ``gt_label``; a batch
  mixed by an augment that moved pixels between images without per-patch
  targets is refused;
* the composition with the head's CE (:meth:`~PatchMixingTerm.head_loss_factor`).
"""

from typing import List, Optional, Tuple

import torch
import torch.nn as nn
from mmpretrain.models.heads import VisionTransformerClsHead
from mmpretrain.models.losses import LabelSmoothLoss
from mmpretrain.structures import DataSample

from ..batch_augments import BATCH_AUGMENT_KEY


def check_patch_mix_head(
    head: Optional[nn.Module], neck: Optional[nn.Module], cfg_key: str = 'diversity'
) -> None:
    """Raise unless the tokens can go through ``head``'s last layer."""
    if head is None or not (
        isinstance(head, VisionTransformerClsHead)
        or isinstance(getattr(head, 'fc', None), nn.Linear)
    ):
        raise ValueError(
            f'{cfg_key}.patch_mix needs a head with a final linear layer '
            '(VisionTransformerClsHead `layers.head` or LinearClsHead `fc`), '
            f'got {type(head).__name__}'
        )
    if neck is not None and any(True for _ in neck.parameters()):
        raise ValueError(
            f'{cfg_key}.patch_mix feeds patch tokens straight to the head; the '
            f'neck {type(neck).__name__} has parameters that the tokens would '
            'skip. Use a parameter-free neck (e.g. GlobalAveragePooling) or none.'
        )


def label_smoothing(head: nn.Module, override: Optional[float] = None) -> float:
    """Epsilon of the per-patch targets: ``override``
    (``diversity.patch_label_smooth``) or that of the head's
    ``LabelSmoothLoss`` (modes ``original`` / ``classy_vision``), else 0."""
    if override is not None:
        return float(override)
    loss_module = getattr(head, 'loss_module', None)
    if isinstance(loss_module, LabelSmoothLoss) and loss_module.mode != 'multi_label':
        return float(loss_module._eps)
    return 0.0


class PatchMixingTerm:
    """The patch-mixing term of a classifier: head adapter, targets and
    composition around its loss module (``PatchMixingLoss``).

    Args:
        loss (nn.Module): The ``PatchMixingLoss`` (``composition``,
            ``class_token_weight``).
        head (nn.Module): The classifier head (referenced, not owned).
        neck (nn.Module, optional): The classifier neck (must be
            parameter-free).
        label_smooth (float, optional): ``diversity.patch_label_smooth``.
        cfg_key (str): Config path for error messages.
    """

    def __init__(
        self,
        loss: nn.Module,
        head: Optional[nn.Module],
        neck: Optional[nn.Module] = None,
        label_smooth: Optional[float] = None,
        cfg_key: str = 'diversity',
    ):
        check_patch_mix_head(head, neck, cfg_key)
        self.loss, self.head, self.cfg_key = loss, head, cfg_key
        self.eps = label_smoothing(head, label_smooth)

    def logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, n, d)`` post-norm patch tokens -> ``(B, n, K)`` logits."""
        head = self.head
        if isinstance(head, VisionTransformerClsHead):
            if head.hidden_dim is not None:
                tokens = head.layers.act(head.layers.pre_logits(tokens))
            return head.layers.head(tokens)
        return head.fc(tokens)

    def targets(
        self,
        data_samples: List[DataSample],
        logits: torch.Tensor,
        patch_targets: Optional[torch.Tensor] = None,
        last_hw: Optional[Tuple[int, int]] = None,
        input_hw: Optional[Tuple[int, int]] = None,
    ) -> torch.Tensor:
        """``(B, n, K)`` label-smoothed per-patch soft targets, float32 on
        ``logits.device``.

        Args:
            data_samples (list[DataSample]): The batch (``gt_score`` or
                ``gt_label``; ``batch_augment`` in the metainfo when pixels
                were moved between images).
            logits (Tensor): ``(B, n, K)`` per-patch logits (shape, device).
            patch_targets (Tensor, optional): ``(B, n, K)`` from ``PatchCutMix``.
            last_hw, input_hw (tuple, optional): Token grid and input size,
                for the error message of a mismatch.

        Raises:
            ValueError: If ``patch_targets`` has the wrong shape, or is
                missing for a batch whose augment moved pixels.
        """
        batch, num_tokens, num_classes = logits.shape
        if patch_targets is not None:
            self._check_shape(patch_targets, logits.shape, last_hw, input_hw)
            targets = patch_targets.to(device=logits.device, dtype=torch.float32)
        else:
            augment = data_samples[0].metainfo.get(BATCH_AUGMENT_KEY)
            if augment is not None:
                raise ValueError(
                    f'{self.cfg_key}.patch_mix: this batch was mixed by {augment}, which '
                    'moves pixels between images, but no per-patch targets arrived '
                    '(patch_targets); use PatchCutMix through PatchClsDataPreprocessor'
                )
            targets = self._image_targets(data_samples, logits)
            targets = targets.unsqueeze(1).expand(-1, num_tokens, -1)
        if self.eps:
            targets = targets * (1.0 - self.eps) + self.eps / num_classes
        return targets

    def _check_shape(self, patch_targets, shape, last_hw, input_hw) -> None:
        batch, num_tokens, num_classes = shape
        if tuple(patch_targets.shape) == (batch, num_tokens, num_classes):
            return
        hint = ''
        if last_hw and input_hw:
            hint = (
                f' (input {input_hw[0]}x{input_hw[1]}, token grid '
                f'{last_hw[0]}x{last_hw[1]}: set PatchCutMix '
                f'patch_size={input_hw[0] // last_hw[0]})'
            )
        raise ValueError(
            f'{self.cfg_key}.patch_mix: the batch augment gave per-patch targets of '
            f'shape {tuple(patch_targets.shape)}, but the model has {batch} images x '
            f'{num_tokens} last tokens x {num_classes} classes{hint}'
        )

    @staticmethod
    def _image_targets(data_samples: List[DataSample], logits: torch.Tensor) -> torch.Tensor:
        """``(B, K)`` image-level targets: ``gt_score`` or one-hot ``gt_label``."""
        if 'gt_score' in data_samples[0]:
            image = torch.stack([s.gt_score for s in data_samples])
            return image.to(device=logits.device, dtype=torch.float32)
        labels = torch.cat([s.gt_label for s in data_samples]).to(logits.device).view(-1, 1)
        return logits.new_zeros((logits.shape[0], logits.shape[-1]), dtype=torch.float32).scatter_(
            1, labels, 1.0
        )

    def head_loss_factor(self, scale: float, num_patches: int) -> float:
        """Factor of the head's class-token CE next to ``loss_patch_mix``.

        ``composition='separate'`` (default): 1, the head CE is added as is.
        ``'token_mean'`` (Diverse-ViT): ``loss_weight / (n + 1)``, so that the
        head CE and ``loss_patch_mix`` (``loss_weight * sum_i CE_i / (n + 1)``)
        add up to ``loss_weight * (CE_cls + sum_i CE_i) / (n + 1)``, the mean
        over all ``N = n + 1`` tokens. A warm-up ``scale`` of the term moves
        the factor linearly from 1 (term off: the plain CE) to that value.
        """
        full = self.loss.class_token_weight(num_patches)
        return 1.0 + scale * (full - 1.0)
