"""``ImageClassifier`` with patch-diversity regularizers."""
from typing import List, Optional

import torch
from mmpretrain.models import ImageClassifier
from mmpretrain.models.utils import ClsDataPreprocessor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ..batch_augments import PatchClsDataPreprocessor, PatchCutMix
from ..diversity import DiversityRegularizer, patch_mixing
from ..taps import build_tap

_STOCK_PREPROCESSORS = (None, 'ClsDataPreprocessor',
                        'mmpretrain.ClsDataPreprocessor', ClsDataPreprocessor)
#: Key of the head's classification loss: mmengine's ``parse_losses`` puts
#: the total under ``'loss'``, which the head's own ``'loss'`` would
#: overwrite in the log.
HEAD_LOSS_KEY = 'loss_cls'


@MODELS.register_module()
class DiverseImageClassifier(ImageClassifier):
    """Image classifier trained with patch-diversity regularizers.

    Papers: `Vision Transformers with Patch Diversification
    <https://arxiv.org/abs/2104.12753>`_ (patch cosine, contrastive and
    mixing terms) and `The Principle of Diversity
    <https://arxiv.org/abs/2203.06345>`_ (attention and weight terms).

    ``loss()`` is the stock ``ImageClassifier.loss`` run inside the
    regularizer's capture (:class:`~mmdiverse.models.diversity.DiversityRegularizer`:
    a tap hooks the stock backbone only there, so ``predict`` / ``tensor``
    modes are unchanged and cost nothing extra), then the configured terms
    are added: ``loss_patch_cos``, ``loss_patch_contrast``,
    ``loss_patch_mix``, ``loss_attn_div``, ``loss_weight_cond`` and the
    detached diagnostic ``patch_cos_sim``. The head's loss is logged as
    ``loss_cls``, so mmengine's ``loss`` is the optimized total. With
    ``diversity=None`` this is ``ImageClassifier``.

    **Patch mixing** (:mod:`mmdiverse.models.diversity.patch_mixing`): every
    post-norm patch token goes through the head's final linear layer. The
    per-patch targets of a ``PatchCutMix`` batch arrive as the
    ``patch_targets`` argument of :meth:`forward` / :meth:`loss`, a ``(B,
    n, K)`` tensor from ``PatchClsDataPreprocessor`` (which replaces the
    default ``ClsDataPreprocessor`` automatically); otherwise every patch
    takes its image's ``gt_score`` (Mixup, no mix) or one-hot ``gt_label``.
    They are label-smoothed like the image-level target (the epsilon of a
    ``LabelSmoothLoss`` head; override with ``diversity.patch_label_smooth``,
    0 disables). With ``PatchMixingLoss(composition='token_mean')`` the
    head's CE is weighted so that ``loss_cls + loss_patch_mix`` is the mean
    over all tokens (Diverse-ViT).

    Args:
        backbone, neck, head, pretrained, train_cfg, data_preprocessor,
        init_cfg: As :class:`ImageClassifier`.
        diversity (dict, optional): ``tap`` (tap config: ``first_layer``,
            ``attn_layers``, ``similarity_tokens``, optional ``type``), any
            term of ``TERM_TABLE`` (loss configs; omitted terms are off) and
            ``patch_label_smooth`` (float, optional). Defaults to None.
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
                patch_mixing.check_patch_mix_head(self.head, self.neck)
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

    def _check_patch_cutmix(self) -> None:
        """Check every ``PatchCutMix`` of ``train_cfg.augments`` against the
        backbone at build time: its ``patch_size`` must divide the backbone's
        input size and, with the patch-mixing term, equal the stride of the
        last tokens (else the per-patch targets would not match the tokens),
        and its targets must reach the model (``PatchClsDataPreprocessor``).
        What the tap cannot tell (a backbone without ``img_size``, a CNN whose
        probe pass failed) is checked at the first batch instead.
        """
        augments = getattr(getattr(self.data_preprocessor, 'batch_augments', None),
                           'augments', None) or []
        stride, input_size = self.tap.token_stride(), self.tap.input_size()
        backbone = type(self.backbone).__name__
        mixing = 'patch_mix' in self.diversity.losses
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
            if stride and mixing and tuple(size) != stride:
                raise ValueError(
                    f'{key}={size}: diversity.patch_mix needs the CutMix box on the grid of '
                    f'the last tokens, which have a {stride[0]}x{stride[1]} px stride in '
                    f'{backbone}; set patch_size={stride[0]}')
            if mixing and not isinstance(self.data_preprocessor, PatchClsDataPreprocessor):
                raise ValueError(
                    f'train_cfg.augments[{index}] (PatchCutMix) with diversity.patch_mix '
                    'needs data_preprocessor PatchClsDataPreprocessor to pass the '
                    f'per-patch targets, got {type(self.data_preprocessor).__name__}')

    def forward(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor',
                patch_targets: Optional[torch.Tensor] = None):
        """``ImageClassifier.forward``; ``patch_targets`` (``(B, n, K)``,
        from ``PatchClsDataPreprocessor``) goes to :meth:`loss`."""
        if mode == 'loss':
            return self.loss(inputs, data_samples, patch_targets)
        return super().forward(inputs, data_samples, mode)

    def loss(self,
             inputs: torch.Tensor,
             data_samples: List[DataSample],
             patch_targets: Optional[torch.Tensor] = None) -> dict:
        """The stock classification loss plus the configured diversity terms.

        Args:
            inputs (Tensor): ``(B, C, H, W)``.
            data_samples (list[DataSample]): The batch's labels / scores.
            patch_targets (Tensor, optional): ``(B, n, K)`` per-patch targets
                of a ``PatchCutMix`` batch.

        Returns:
            dict[str, Tensor]: ``loss_cls`` (the head's loss), the ``loss_*``
            terms and ``patch_cos_sim``.
        """
        if self.diversity is None:
            return super().loss(inputs, data_samples)
        with self.diversity.capture() as captured:
            head_losses = super().loss(inputs, data_samples)
        losses = {(HEAD_LOSS_KEY if k == 'loss' else k): v
                  for k, v in head_losses.items()}
        logits = targets = None
        mixing = self.diversity.losses['patch_mix'] \
            if 'patch_mix' in self.diversity.losses else None
        if mixing is not None:
            logits = patch_mixing.patch_logits(self.head, captured.last)
            eps = patch_mixing.label_smoothing(
                self.head, self.diversity.options.get('patch_label_smooth'))
            targets = patch_mixing.patch_targets(
                data_samples, logits, patch_targets, eps=eps,
                last_hw=captured.last_hw, input_hw=tuple(inputs.shape[-2:]))
            factor = patch_mixing.head_loss_factor(
                mixing, self.diversity.term_scales['patch_mix'], logits.shape[1])
            if factor != 1 and HEAD_LOSS_KEY in losses:
                losses[HEAD_LOSS_KEY] = losses[HEAD_LOSS_KEY] * factor
        losses.update(self.diversity.compute(captured, logits, targets))
        return losses
