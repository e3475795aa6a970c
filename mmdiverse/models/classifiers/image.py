"""``ImageClassifier`` with patch-diversity regularizers."""
from typing import List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models import ImageClassifier
from mmpretrain.models.heads import VisionTransformerClsHead
from mmpretrain.models.losses import LabelSmoothLoss
from mmpretrain.models.utils import ClsDataPreprocessor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ..batch_augments import PatchCutMix, stack_patch_scores
from ..taps import TapOutputs, build_tap
from .diversity import DiversityRegularizer

_STOCK_PREPROCESSORS = (None, 'ClsDataPreprocessor',
                        'mmpretrain.ClsDataPreprocessor', ClsDataPreprocessor)


@MODELS.register_module()
class DiverseImageClassifier(ImageClassifier):
    """Image classifier trained with patch-diversity regularizers.

    Papers: `Vision Transformers with Patch Diversification
    <https://arxiv.org/abs/2104.12753>`_ (patch cosine, contrastive and
    mixing terms) and `The Principle of Diversity
    <https://arxiv.org/abs/2203.06345>`_ (attention and weight terms).

    ``loss()`` returns the head's classification ``loss`` plus, for each
    configured term, ``loss_patch_cos``, ``loss_patch_contrast``,
    ``loss_patch_mix``, ``loss_attn_div``, ``loss_weight_cond`` and the
    detached diagnostic ``patch_cos_sim`` (mean pairwise cosine of the last
    patch tokens; absolute or signed as ``patch_cos`` is configured). The
    backbone is stock: a tap (:mod:`mmdiverse.models.taps`) hooks it only
    during ``loss()``, so ``predict`` / ``tensor`` modes are unchanged and
    cost nothing extra. With ``diversity=None`` this is ``ImageClassifier``.

    **Patch mixing.** Every last-layer patch token (after the backbone's
    final norm) goes through the head's own final linear layer:
    ``VisionTransformerClsHead``: ``layers.head`` (after ``layers.pre_logits``
    and ``layers.act`` when ``hidden_dim`` is set); ``LinearClsHead`` (and
    other heads with an ``fc`` Linear): ``fc``. A parameter-free neck (e.g.
    ``GlobalAveragePooling``) is skipped, which is exact for average pooling
    (the head is linear). Per-patch targets come from the data samples'
    ``gt_patch_score`` (written by ``PatchClsDataPreprocessor`` when
    :class:`PatchCutMix` mixed the batch; this preprocessor replaces the
    default ``ClsDataPreprocessor`` automatically); otherwise every patch
    takes its image's ``gt_score`` (Mixup, no mix) or one-hot ``gt_label``.
    They are label-smoothed like the image-level target: with a
    ``LabelSmoothLoss`` head loss (modes ``original`` / ``classy_vision``)
    its epsilon is applied, ``t (1 - eps) + eps / K``; override with
    ``diversity.patch_label_smooth`` (a float, 0 disables).

    Args:
        backbone, neck, head, pretrained, train_cfg, data_preprocessor,
        init_cfg: As :class:`ImageClassifier`.
        diversity (dict, optional): ``tap`` (tap config: ``first_layer``,
            ``attn_layers``, optional ``type``), ``patch_cos``,
            ``patch_contrast``, ``patch_mix``, ``attn_div``, ``weight_cond``
            (loss configs; omitted terms are off) and
            ``patch_label_smooth`` (float, optional). ``attn_div`` reads
            block 0 unless ``tap.attn_layers`` is given (averaged over the
            listed blocks). Defaults to None.
    """

    def __init__(self,
                 backbone: dict,
                 neck: Optional[dict] = None,
                 head: Optional[dict] = None,
                 diversity: Optional[dict] = None,
                 pretrained: Optional[str] = None,
                 train_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        if diversity:
            data_preprocessor = self._patch_preprocessor(data_preprocessor)
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            pretrained=pretrained,
            train_cfg=train_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self._plain_tap = None
        self.diversity = None
        if diversity:
            self.diversity = DiversityRegularizer(
                self.backbone, diversity, options=('patch_label_smooth', ))
            if 'patch_mix' in self.diversity.losses:
                self._check_patch_mix_head()
            self._check_patch_cutmix()

    @staticmethod
    def _patch_preprocessor(cfg):
        """Use ``PatchClsDataPreprocessor`` where the stock one would be."""
        if cfg is None:
            return dict(type='PatchClsDataPreprocessor')
        if isinstance(cfg, dict) and cfg.get('type') in _STOCK_PREPROCESSORS:
            cfg = dict(cfg)
            cfg['type'] = 'PatchClsDataPreprocessor'
        return cfg

    @property
    def with_diversity(self) -> bool:
        return self.diversity is not None

    @property
    def tap(self):
        """The tap of the regularizers, or (lazily) a default one."""
        if self.diversity is not None:
            return self.diversity.tap
        if self._plain_tap is None:
            self._plain_tap = build_tap(self.backbone)
        return self._plain_tap

    # ------------------------------------------------------------- heads
    def _check_patch_mix_head(self) -> None:
        head = self.head
        if head is None or not (
                isinstance(head, VisionTransformerClsHead) or isinstance(
                    getattr(head, 'fc', None), nn.Linear)):
            raise ValueError(
                'diversity.patch_mix needs a head with a final linear layer '
                '(VisionTransformerClsHead `layers.head` or LinearClsHead '
                f'`fc`), got {type(head).__name__}')
        if self.neck is not None and any(
                True for _ in self.neck.parameters()):
            raise ValueError(
                'diversity.patch_mix feeds patch tokens straight to the head; '
                f'the neck {type(self.neck).__name__} has parameters that '
                'the tokens would skip. Use a parameter-free neck (e.g. '
                'GlobalAveragePooling) or none.')

    def _check_patch_cutmix(self) -> None:
        """Check every ``PatchCutMix`` of ``train_cfg.augments`` against the
        backbone at build time: its ``patch_size`` must divide the backbone's
        input size and, with the patch-mixing term, equal the stride of the
        last tokens (else the per-patch targets would not match the tokens).
        What the tap cannot tell (a backbone without ``img_size``, a CNN whose
        probe pass failed) is checked at the first batch instead.
        """
        augments = getattr(getattr(self.data_preprocessor, 'batch_augments', None),
                           'augments', None) or []
        stride, input_size = self.tap.token_stride(), self.tap.input_size()
        backbone = type(self.backbone).__name__
        for index, augment in enumerate(augments):
            if not isinstance(augment, PatchCutMix):
                continue
            key = f'train_cfg.augments[{index}].patch_size'
            size = augment.patch_size
            if input_size and (input_size[0] % size[0] or input_size[1] % size[1]):
                raise ValueError(
                    f'{key}={size} does not divide the {input_size[0]}x{input_size[1]} input '
                    f'of the backbone ({backbone} img_size); use a patch_size that divides '
                    'it (the token stride)')
            if stride and 'patch_mix' in self.diversity.losses and tuple(size) != stride:
                raise ValueError(
                    f'{key}={size}: diversity.patch_mix needs the CutMix box on the grid of '
                    f'the last tokens, which have a {stride[0]}x{stride[1]} px stride in '
                    f'{backbone}; set patch_size={stride[0]}')

    def patch_logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """Per-token logits ``(B, n, K)`` from the head's final layer."""
        head = self.head
        if isinstance(head, VisionTransformerClsHead):
            x = tokens
            if head.hidden_dim is not None:
                x = head.layers.act(head.layers.pre_logits(x))
            return head.layers.head(x)
        return head.fc(tokens)

    def _label_smooth_eps(self) -> float:
        eps = self.diversity.options.get('patch_label_smooth')
        if eps is not None:
            return float(eps)
        loss_module = getattr(self.head, 'loss_module', None)
        if isinstance(loss_module, LabelSmoothLoss) and \
                loss_module.mode != 'multi_label':
            return float(loss_module._eps)
        return 0.

    def patch_targets(self, data_samples: List[DataSample], num_tokens: int,
                      num_classes: int, device,
                      last_hw=None, input_hw=None) -> torch.Tensor:
        """``(B, n, K)`` per-patch soft targets (see the class docstring)."""
        targets = stack_patch_scores(data_samples)
        if targets is not None:
            if targets.shape[1:] != (num_tokens, num_classes):
                hint = ''
                if last_hw and input_hw:
                    hint = (f' (input {input_hw[0]}x{input_hw[1]}, token grid '
                            f'{last_hw[0]}x{last_hw[1]}: set PatchCutMix '
                            f'patch_size={input_hw[0] // last_hw[0]})')
                raise ValueError(
                    'diversity.patch_mix: the batch augment gave per-patch '
                    f'targets of shape {tuple(targets.shape[1:])} per image, '
                    f'but the backbone has {num_tokens} last tokens and the '
                    f'head {num_classes} classes{hint}')
            targets = targets.to(device)
        else:
            if 'gt_score' in data_samples[0]:
                image = torch.stack([s.gt_score for s in data_samples])
            else:
                labels = torch.cat([s.gt_label for s in data_samples])
                image = F.one_hot(labels, num_classes)
            image = image.to(device=device, dtype=torch.float32)
            targets = image.unsqueeze(1).expand(-1, num_tokens, -1)
        eps = self._label_smooth_eps()
        if eps:
            targets = targets * (1. - eps) + eps / num_classes
        return targets

    # ------------------------------------------------------------- modes
    def extract_taps(self, inputs: torch.Tensor, **capture_kwargs):
        """Backbone features and captured tokens for ``inputs``.

        Args:
            inputs (Tensor): ``(B, C, H, W)``.
            **capture_kwargs: Passed to ``tap.capture`` (``first``,
                ``attn``, ``per_layer``, ...).

        Returns:
            tuple: ``(backbone features, TapOutputs)``.
        """
        return self.tap.extract(inputs, **capture_kwargs)

    def loss(self, inputs: torch.Tensor,
             data_samples: List[DataSample]) -> dict:
        """Classification loss plus the configured diversity terms."""
        if self.diversity is None:
            return super().loss(inputs, data_samples)
        with self.diversity.capture() as taps:
            feats = self.extract_feat(inputs)
        losses = self.head.loss(feats, data_samples)

        def patch_mix_inputs(taps: TapOutputs):
            logits = self.patch_logits(taps.last)
            targets = self.patch_targets(
                data_samples, logits.shape[1], logits.shape[2], logits.device,
                taps.last_hw, tuple(inputs.shape[-2:]))
            return logits, targets

        losses.update(self.diversity.compute(taps, patch_mix_inputs))
        return losses
