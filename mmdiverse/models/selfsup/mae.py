"""mmpretrain's ``MAE`` with the label-free diversity terms."""

import functools
from typing import Dict, List, Optional

import torch
from mmpretrain.models.selfsup import MAE
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ..diversity import LABEL_FREE_TERMS, DiversityMixin


@MODELS.register_module()
class DiverseMAE(DiversityMixin, MAE):
    """MAE pretraining with the patch-diversity terms on the encoder.

    Papers: `Masked Autoencoders Are Scalable Vision Learners
    <https://arxiv.org/abs/2111.06377>`_ (the model and its reconstruction
    loss, mmpretrain's, untouched); `Vision Transformers with Patch
    Diversification <https://arxiv.org/abs/2104.12753>`_ and `The Principle
    of Diversity <https://arxiv.org/abs/2203.06345>`_ (the terms).

    The terms that need no labels (``patch_cos``, ``patch_contrast``,
    ``attn_div``, ``weight_cond``) read the encoder (``MAEViT``) through
    ``MAEViTTap``: the class token and the mask / decoder tokens never take
    part, only the visible patch tokens the encoder sees (``(B, n_vis, d)``,
    ``n_vis = n (1 - mask_ratio)``), the same set for the first and the last
    layer; ``attn_div`` reads the chosen encoder block's ``(B, H, 1 + n_vis,
    1 + n_vis)`` attention, ``weight_cond`` every encoder block's q, k, v.
    ``loss()`` returns mmpretrain's reconstruction loss as ``loss_rec``, the
    ``loss_*`` terms and the diagnostic ``patch_cos_sim``, so the logged
    ``loss`` is the optimized total. With ``diversity=None`` this is ``MAE``.

    Args:
        *args, **kwargs: mmpretrain's ``MAE`` arguments (``backbone``,
            ``neck``, ``head``, ``target_generator``, ...), passed through.
        diversity (dict, optional): ``tap`` (``first_layer``,
            ``attn_layers``) and any of ``patch_cos``, ``patch_contrast``,
            ``attn_div``, ``weight_cond`` (loss configs). ``patch_mix`` needs
            labels and is refused. Defaults to None.
    """

    diversity_terms = LABEL_FREE_TERMS
    diversity_cfg_key = 'model.diversity'
    stock_loss_key = 'loss_rec'

    def __init__(self, *args, diversity: Optional[dict] = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.init_diversity(diversity)

    def loss(
        self, inputs: torch.Tensor, data_samples: List[DataSample], **kwargs
    ) -> Dict[str, torch.Tensor]:
        """``loss_rec`` (``MAE.loss``) plus the configured terms."""
        return self.diversity_loss(functools.partial(super().loss, inputs, data_samples, **kwargs))
