"""Self-supervised models with the label-free diversity terms, registered in
``mmpretrain.registry.MODELS``: :class:`DiverseMAE` (mmpretrain ``MAE``) and
:class:`DiverseSimMIM` (mmpretrain ``SimMIM``)."""

from .mae import DiverseMAE
from .simmim import DiverseSimMIM, visible_token_index

__all__ = ['DiverseMAE', 'DiverseSimMIM', 'visible_token_index']
