"""mmpretrain's ``SimMIM`` with the label-free diversity terms."""

import functools
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmpretrain.models.selfsup import SimMIM
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ..diversity import LABEL_FREE_TERMS, DiversityMixin

#: Values of ``diversity.masked_positions``.
MASKED_POSITIONS = ('include', 'exclude')


def visible_token_index(
    mask: torch.Tensor, grid: Tuple[int, int], cfg_key: str = 'model.diversity.masked_positions'
) -> torch.Tensor:
    """Indices of the last-grid tokens whose whole cell is unmasked.

    Args:
        mask (Tensor): ``(B, Hm, Wm)`` SimMIM mask on the patch-embedding
            grid, 1 = masked.
        grid (tuple[int, int]): ``(h, w)`` last grid; must divide ``(Hm, Wm)``.
        cfg_key (str): Named in the errors.

    Returns:
        Tensor: ``(B, m)`` int64 row-major indices, ascending.

    Raises:
        ValueError: If the grids do not divide, or the images have different
            numbers of visible cells (one host synchronisation checks it).
    """
    (hm, wm), (h, w) = mask.shape[-2:], grid
    if hm % h or wm % w:
        raise ValueError(
            f"{cfg_key}='exclude': the {hm}x{wm} mask does not divide into "
            f'the {h}x{w} grid of the last stage'
        )
    masked = F.max_pool2d(mask.float().unsqueeze(1), (hm // h, wm // w)).flatten(1)  # (B, hw)
    low, high = torch.aminmax(masked.sum(1))
    low, high = int(low), int(high)
    if low != high:
        raise ValueError(
            f"{cfg_key}='exclude': the images have {h * w - high} to {h * w - low} visible "
            'last-stage cells; the mask must cover whole cells, as SimMIMMaskGenerator '
            "with mask_patch_size equal to the last stage's stride (32) does"
        )
    order = torch.argsort(masked, dim=1, stable=True)
    return order[:, : h * w - low]


@MODELS.register_module()
class DiverseSimMIM(DiversityMixin, SimMIM):
    """SimMIM pretraining with the patch-diversity terms on the Swin encoder.

    Papers: `SimMIM: A Simple Framework for Masked Image Modeling
    <https://arxiv.org/abs/2111.09886>`_ (the model and its reconstruction
    loss, mmpretrain's, untouched); `Vision Transformers with Patch
    Diversification <https://arxiv.org/abs/2104.12753>`_ and `The Principle
    of Diversity <https://arxiv.org/abs/2203.06345>`_ (the terms).

    The label-free terms read the encoder (``SimMIMSwinTransformer``)
    through ``SwinTap``: the last stage's tokens after its output norm
    (``(B, h w, 8C)``, 6x6 at 192 px), ``first`` = the tokens entering the
    last stage (same grid), ``attn_div`` a chosen block's window attention,
    ``weight_cond`` every block's q, k, v. ``diversity.masked_positions``
    says whether masked positions take part:

    * ``'include'`` (default): every last-stage token. SimMIM's encoder runs
      on the whole grid (masked patches enter as the learned mask token) and
      by the last stage every token has mixed with its window's visible
      patches, so the whole grid is the encoder's output, as in the
      supervised Swin terms; it also costs nothing extra.
    * ``'exclude'``: only the last-stage tokens whose whole 32 px cell is
      unmasked (:func:`visible_token_index`; the mask must cover whole
      cells, as mmpretrain's ``SimMIMMaskGenerator(mask_patch_size=32)``
      does, with the same count per image). One host synchronisation per
      step checks the count.

    ``loss()`` returns mmpretrain's reconstruction loss as ``loss_rec``, the
    ``loss_*`` terms and ``patch_cos_sim``. With ``diversity=None`` this is
    ``SimMIM``.

    Args:
        *args, **kwargs: mmpretrain's ``SimMIM`` arguments (``backbone``,
            ``neck``, ``head``, ``target_generator``, ...), passed through.
        diversity (dict, optional): ``tap``, any of ``patch_cos``,
            ``patch_contrast``, ``attn_div``, ``weight_cond`` and
            ``masked_positions`` (see above). ``patch_mix`` is refused.
            Defaults to None.
    """

    diversity_terms = LABEL_FREE_TERMS
    diversity_cfg_key = 'model.diversity'
    diversity_options = ('masked_positions',)
    stock_loss_key = 'loss_rec'

    def __init__(self, *args, diversity: Optional[dict] = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.init_diversity(diversity)
        options = self.diversity.options if self.diversity is not None else {}
        self.masked_positions = options.get('masked_positions', 'include')
        if self.masked_positions not in MASKED_POSITIONS:
            raise ValueError(
                f'model.diversity.masked_positions={self.masked_positions!r}; '
                f'choose one of {MASKED_POSITIONS}'
            )

    def loss(
        self, inputs: torch.Tensor, data_samples: List[DataSample], **kwargs
    ) -> Dict[str, torch.Tensor]:
        """``loss_rec`` (``SimMIM.loss``) plus the configured terms."""
        stock = functools.partial(super().loss, inputs, data_samples, **kwargs)
        if self.diversity is None or self.masked_positions == 'include':
            return self.diversity_loss(stock)
        stride = self.tap.token_stride()
        grid = (inputs.shape[-2] // stride[0], inputs.shape[-1] // stride[1])
        mask = torch.stack([sample.mask for sample in data_samples])
        return self.diversity_loss(stock, token_index=visible_token_index(mask, grid))
