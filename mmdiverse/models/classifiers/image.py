"""``ImageClassifier`` with patch-diversity regularizers."""

import functools
from typing import List, Optional

import torch
from mmpretrain.models import ImageClassifier
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ..batch_augments import PatchClsDataPreprocessor, PatchCutMix, PatchTargetAugment, moves_pixels
from ..diversity import DiversityMixin


@MODELS.register_module()
class DiverseImageClassifier(DiversityMixin, ImageClassifier):
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

    **Patch mixing** (one term,
    :class:`~mmdiverse.models.diversity.patch_mixing.PatchMixingTerm`): every
    post-norm patch token goes through the head's final linear layer. The
    per-patch targets of a ``PatchCutMix`` batch arrive as the
    ``patch_targets`` argument of :meth:`forward` / :meth:`loss`, a ``(B,
    n, K)`` tensor from ``PatchClsDataPreprocessor`` (the preprocessor used
    when the config's ``data_preprocessor`` names no ``type``); under Mixup
    (or no mix) every patch takes its image's ``gt_score`` or one-hot
    ``gt_label``. A batch mixed by an augment that moved pixels between images
    without per-patch targets is an error naming the augment, and so is,
    at build time, such an augment in ``train_cfg.augments``.
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

    diversity_options = ('patch_label_smooth',)
    #: Key of the head's classification loss: mmengine's ``parse_losses``
    #: puts the total under ``'loss'``, which the head's own ``'loss'``
    #: would overwrite in the log.
    stock_loss_key = 'loss_cls'

    def __init__(
        self,
        backbone: dict,
        neck: Optional[dict] = None,
        head: Optional[dict] = None,
        diversity: Optional[dict] = None,
        pretrained: Optional[str] = None,
        train_cfg: Optional[dict] = None,
        data_preprocessor: Optional[dict] = None,
        init_cfg: Optional[dict] = None,
    ):
        if diversity and (data_preprocessor is None or isinstance(data_preprocessor, dict)):
            data_preprocessor = dict(data_preprocessor or {})
            data_preprocessor.setdefault('type', 'PatchClsDataPreprocessor')
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            pretrained=pretrained,
            train_cfg=train_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg,
        )
        self.init_diversity(diversity, head=self.head, neck=self.neck)
        if self.diversity is not None:
            self._check_batch_augments()

    def _check_batch_augments(self) -> None:
        """Check the built ``train_cfg.augments`` against the backbone.

        A ``PatchCutMix``'s ``patch_size`` must divide the backbone's input
        size and, with the patch-mixing term, equal the stride of the last
        tokens (else the per-patch targets would not match the tokens). With
        the term, every augment that moves pixels between images must give
        per-patch targets, and they must reach the model
        (``PatchClsDataPreprocessor``). What the tap cannot tell (a backbone
        without ``img_size``, a CNN whose probe pass failed) is checked at the
        first batch instead.
        """
        augments = (
            getattr(getattr(self.data_preprocessor, 'batch_augments', None), 'augments', None) or []
        )
        stride, input_size = self.tap.token_stride(), self.tap.input_size()
        backbone = type(self.backbone).__name__
        mixing = self.diversity.patch_mixing is not None
        for index, augment in enumerate(augments):
            where = f'train_cfg.augments[{index}]'
            if mixing and moves_pixels(augment) and not isinstance(augment, PatchTargetAugment):
                raise ValueError(
                    f'{where} ({type(augment).__name__}) moves pixels between images but gives '
                    'no per-patch targets, which diversity.patch_mix needs; use PatchCutMix'
                )
            if not isinstance(augment, PatchCutMix):
                continue
            size = augment.patch_size
            if input_size and (input_size[0] % size[0] or input_size[1] % size[1]):
                raise ValueError(
                    f'{where}.patch_size={size} does not divide the {input_size[0]}x'
                    f'{input_size[1]} input of the backbone ({backbone} img_size); use a '
                    'patch_size that divides it (the token stride)'
                )
            if stride and mixing and tuple(size) != stride:
                raise ValueError(
                    f'{where}.patch_size={size}: diversity.patch_mix needs the CutMix box on '
                    f'the grid of the last tokens, which have a {stride[0]}x{stride[1]} px '
                    f'stride in {backbone}; set patch_size={stride[0]}'
                )
            if mixing and not isinstance(self.data_preprocessor, PatchClsDataPreprocessor):
                raise ValueError(
                    f'{where} (PatchCutMix) with diversity.patch_mix needs data_preprocessor '
                    'PatchClsDataPreprocessor to pass the per-patch targets, got '
                    f'{type(self.data_preprocessor).__name__}'
                )

    def forward(
        self,
        inputs: torch.Tensor,
        data_samples: Optional[List[DataSample]] = None,
        mode: str = 'tensor',
        patch_targets: Optional[torch.Tensor] = None,
    ):
        """``ImageClassifier.forward``; ``patch_targets`` (``(B, n, K)``,
        from ``PatchClsDataPreprocessor``) goes to :meth:`loss`."""
        if mode == 'loss':
            return self.loss(inputs, data_samples, patch_targets)
        return super().forward(inputs, data_samples, mode)

    def loss(
        self,
        inputs: torch.Tensor,
        data_samples: List[DataSample],
        patch_targets: Optional[torch.Tensor] = None,
    ) -> dict:
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
        return self.diversity_loss(
            functools.partial(super().loss, inputs, data_samples),
            data_samples=data_samples,
            input_hw=tuple(inputs.shape[-2:]),
            patch_targets=patch_targets,
        )
