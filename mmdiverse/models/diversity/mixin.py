"""One way to give a model type the diversity terms.

A model type mixes :class:`DiversityMixin` in ahead of its stock base class,
builds the regularizer at the end of ``__init__`` and runs its stock loss
through :meth:`DiversityMixin.diversity_loss`::

    @MODELS.register_module()
    class DiverseEncoderDecoder(DiversityMixin, EncoderDecoder):
        diversity_terms = SEGMENTATION_TERMS

        def __init__(self, *args, diversity=None, **kwargs):
            super().__init__(*args, **kwargs)
            self.init_diversity(diversity)

        def loss(self, inputs, data_samples):
            return self.diversity_loss(
                functools.partial(super().loss, inputs, data_samples))

What a model type adds is only what differs: which terms it supports, where
its tokens are (the tap of its backbone) and, for classifiers, the head that
patch mixing reads.
"""

import copy
from typing import Callable, Dict, Optional, Tuple

import torch

from ..taps import BaseTap, build_tap
from .regularizer import DiversityRegularizer
from .terms import TERMS


class DiversityMixin:
    """Diversity terms for a model with a ``backbone`` (mixed in ahead of
    an mmengine ``BaseModel`` subclass).

    Class attributes a model type may override:

    * ``diversity_terms``: the terms it can compute (default: all);
    * ``diversity_cfg_key``: config path used in error messages;
    * ``diversity_options``: extra keys under ``diversity`` it consumes;
    * ``stock_loss_key``: key its stock ``'loss'`` entry is renamed to
      (mmengine's ``parse_losses`` logs the optimized total as ``loss``, which
      an entry of that name would hide), or None to keep the stock keys.

    Attributes:
        diversity_cfg (dict | None): A copy of the ``diversity`` config.
        diversity (DiversityRegularizer | None): The terms; None when the
            config gives none (the model is then its stock base class).
    """

    diversity_terms: Tuple[str, ...] = TERMS
    diversity_cfg_key: str = 'diversity'
    diversity_options: Tuple[str, ...] = ()
    stock_loss_key: Optional[str] = None
    _plain_tap: Optional[BaseTap] = None

    def init_diversity(self, diversity: Optional[dict], **regularizer_kwargs) -> None:
        """Build :attr:`diversity` on ``self.backbone`` (nothing for None /
        ``{}``). ``regularizer_kwargs`` go to :class:`DiversityRegularizer`."""
        self.diversity_cfg = copy.deepcopy(diversity)
        self.diversity = None
        if diversity:
            self.diversity = DiversityRegularizer(
                self.backbone,
                diversity,
                cfg_key=self.diversity_cfg_key,
                options=self.diversity_options,
                supported_terms=self.diversity_terms,
                **regularizer_kwargs,
            )

    @property
    def with_diversity(self) -> bool:
        return self.diversity is not None

    @property
    def tap(self) -> BaseTap:
        """The regularizers' tap, or (built on first use) a default tap on
        the backbone, which ``PatchSimilarityHook`` reads."""
        if self.diversity is not None:
            return self.diversity.tap
        if self._plain_tap is None:
            self._plain_tap = build_tap(self.backbone)
        return self._plain_tap

    def diversity_loss(
        self, stock_loss: Callable[[], Dict[str, torch.Tensor]], **batch
    ) -> Dict[str, torch.Tensor]:
        """The stock loss run inside the tap's capture, plus the terms.

        Args:
            stock_loss (callable): ``() -> dict`` of the stock loss terms
                (e.g. ``functools.partial(super().loss, inputs, data_samples)``).
            **batch: What terms beyond the tokens read (patch mixing:
                ``data_samples``, ``input_hw``, ``patch_targets``), passed to
                :meth:`DiversityRegularizer.add_terms`.

        Returns:
            dict[str, Tensor]: The stock terms (``'loss'`` renamed to
            :attr:`stock_loss_key`), the ``loss_*`` terms and
            ``patch_cos_sim``; only the stock terms without diversity.
        """
        if self.diversity is None:
            return stock_loss()
        with self.diversity.capture() as captured:
            stock = stock_loss()
        key = self.stock_loss_key
        losses = {(key if key and k == 'loss' else k): v for k, v in stock.items()}
        return self.diversity.add_terms(losses, captured, head_loss_key=key, **batch)
