"""Patch mixing through a classifier head: per-token logits and targets.

The patch-mixing term of `Vision Transformers with Patch Diversification
<https://arxiv.org/abs/2104.12753>`_ trains every last-layer patch token
(after the backbone's final norm) through the classifier's own final linear
layer on the label of the image its pixels come from:

* :func:`patch_logits`: ``VisionTransformerClsHead``: ``layers.head``
  (after ``layers.pre_logits`` and ``layers.act`` when ``hidden_dim`` is
  set); ``LinearClsHead`` (and other heads with an ``fc`` Linear): ``fc``.
  A parameter-free neck (e.g. ``GlobalAveragePooling``) is skipped, which is
  exact for average pooling (the head is linear).
* :func:`patch_targets`: the batch's ``(B, n, K)`` per-patch targets from
  ``PatchCutMix`` (they reach ``DiverseImageClassifier.loss`` as its
  ``patch_targets`` argument), else every patch takes its image's
  ``gt_score`` (Mixup, no mix) or one-hot ``gt_label``; label-smoothed like
  the image-level target.
* :func:`head_loss_factor`: how the head's class-token CE is weighted under
  ``PatchMixingLoss(composition=...)``.
"""
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
from mmpretrain.models.heads import VisionTransformerClsHead
from mmpretrain.models.losses import LabelSmoothLoss
from mmpretrain.structures import DataSample


def check_patch_mix_head(head: Optional[nn.Module],
                         neck: Optional[nn.Module]) -> None:
    """Raise unless the tokens can go through ``head``'s last layer."""
    if head is None or not (isinstance(head, VisionTransformerClsHead)
                            or isinstance(getattr(head, 'fc', None), nn.Linear)):
        raise ValueError(
            'diversity.patch_mix needs a head with a final linear layer '
            '(VisionTransformerClsHead `layers.head` or LinearClsHead `fc`), '
            f'got {type(head).__name__}')
    if neck is not None and any(True for _ in neck.parameters()):
        raise ValueError(
            'diversity.patch_mix feeds patch tokens straight to the head; the '
            f'neck {type(neck).__name__} has parameters that the tokens would '
            'skip. Use a parameter-free neck (e.g. GlobalAveragePooling) or '
            'none.')


def patch_logits(head: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """``(B, n, d)`` post-norm patch tokens -> ``(B, n, K)`` logits."""
    if isinstance(head, VisionTransformerClsHead):
        if head.hidden_dim is not None:
            tokens = head.layers.act(head.layers.pre_logits(tokens))
        return head.layers.head(tokens)
    return head.fc(tokens)


def label_smoothing(head: nn.Module, override: Optional[float] = None) -> float:
    """Epsilon of the per-patch targets: ``override``
    (``diversity.patch_label_smooth``) or that of the head's
    ``LabelSmoothLoss`` (modes ``original`` / ``classy_vision``), else 0."""
    if override is not None:
        return float(override)
    loss_module = getattr(head, 'loss_module', None)
    if isinstance(loss_module, LabelSmoothLoss) and \
            loss_module.mode != 'multi_label':
        return float(loss_module._eps)
    return 0.


def patch_targets(data_samples: List[DataSample],
                  logits: torch.Tensor,
                  batch_targets: Optional[torch.Tensor] = None,
                  eps: float = 0.,
                  last_hw: Optional[Tuple[int, int]] = None,
                  input_hw: Optional[Tuple[int, int]] = None) -> torch.Tensor:
    """``(B, n, K)`` per-patch soft targets, shaped like ``logits``.

    Args:
        data_samples (list[DataSample]): The batch (``gt_score`` or
            ``gt_label``), used when ``batch_targets`` is None.
        logits (Tensor): ``(B, n, K)`` per-patch logits (shape, device).
        batch_targets (Tensor, optional): ``(B, n, K)`` from ``PatchCutMix``.
        eps (float): Label smoothing, ``t (1 - eps) + eps / K``.
        last_hw, input_hw (tuple, optional): Token grid and input size, for
            the error message of a mismatch.

    Returns:
        Tensor: float32 targets on ``logits.device``.
    """
    batch, num_tokens, num_classes = logits.shape
    if batch_targets is not None:
        if tuple(batch_targets.shape) != (batch, num_tokens, num_classes):
            hint = ''
            if last_hw and input_hw:
                hint = (f' (input {input_hw[0]}x{input_hw[1]}, token grid '
                        f'{last_hw[0]}x{last_hw[1]}: set PatchCutMix '
                        f'patch_size={input_hw[0] // last_hw[0]})')
            raise ValueError(
                'diversity.patch_mix: the batch augment gave per-patch targets '
                f'of shape {tuple(batch_targets.shape)}, but the model has '
                f'{batch} images x {num_tokens} last tokens x {num_classes} '
                f'classes{hint}')
        targets = batch_targets.to(device=logits.device, dtype=torch.float32)
    else:
        if 'gt_score' in data_samples[0]:
            image = torch.stack([s.gt_score for s in data_samples])
            image = image.to(device=logits.device, dtype=torch.float32)
        else:
            labels = torch.cat([s.gt_label for s in data_samples])
            labels = labels.to(logits.device).view(-1, 1)
            image = logits.new_zeros((batch, num_classes),
                                     dtype=torch.float32).scatter_(1, labels, 1.)
        targets = image.unsqueeze(1).expand(-1, num_tokens, -1)
    if eps:
        targets = targets * (1. - eps) + eps / num_classes
    return targets


def head_loss_factor(patch_mix: nn.Module, scale: float, num_patches: int) -> float:
    """Factor of the head's class-token CE next to ``patch_mix``.

    ``composition='separate'`` (default): 1, the head CE is added as is.
    ``'token_mean'`` (Diverse-ViT): ``loss_weight / (n + 1)``, so that the
    head CE and ``loss_patch_mix`` (``loss_weight * sum_i CE_i / (n + 1)``)
    add up to ``loss_weight * (CE_cls + sum_i CE_i) / (n + 1)``, the mean over
    all ``N = n + 1`` tokens. A warm-up ``scale`` of the term moves the factor
    linearly from 1 (term off: the plain CE) to that value.
    """
    full = patch_mix.class_token_weight(num_patches)
    return 1. + scale * (full - 1.)
