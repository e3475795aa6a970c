"""How strongly a diversity term pulls on the backbone, next to the classification loss.

With AdamW, a parameter's update is its whole gradient normalized by its running
magnitude, so what a term can change depends on its gradient's size relative to
the rest of the gradient on the same weights, not on its loss value. For one
batch, :func:`gradient_share` returns

.. math::
    \\frac{\\| \\nabla_{\\theta} L_{term} \\|}{\\| \\nabla_{\\theta} L_{cls} \\|}

over the backbone parameters :math:`\\theta`, with :math:`L_{term}` already
multiplied by its ``loss_weight`` (Gong et al. 2021; Chen et al. 2022 give the
terms' definitions).
"""

import copy
from typing import Dict, Iterable

import torch
import torch.nn as nn

#: The classification loss key of DiverseImageClassifier.loss.
CLS_KEY = 'loss_cls'


def _grad_norm(loss: torch.Tensor, params) -> float:
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return float(
        torch.sqrt(
            sum((g.double() ** 2).sum() for g in grads if g is not None)
            if any(g is not None for g in grads)
            else torch.zeros(())
        )
    )


def gradient_share(
    model: nn.Module, batch: dict, terms: Iterable[str], reference: str = CLS_KEY
) -> Dict[str, float]:
    """Gradient norm of each term over that of the classification loss.

    Args:
        model: a ``DiverseImageClassifier`` with ``terms`` configured, in
            train mode (its data preprocessor applies the batch augments).
        batch: a collated batch (``inputs``, ``data_samples``) as a
            dataloader yields it; not modified (batch augments write mixed
            scores into the data samples, so a copy is preprocessed).
        terms: diversity term names (``'attn_div'`` ... : key ``loss_<term>``).
        reference: the loss key the terms are compared with: ``'loss_cls'``
            (classifiers) or ``'loss_rec'`` (``DiverseMAE`` / ``DiverseSimMIM``:
            the reconstruction).

    Returns:
        dict: ``{term: share}`` (0 where a term has no gradient on the
        backbone, inf where the classification loss has none).
    """
    params = [p for p in model.backbone.parameters() if p.requires_grad]
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    losses = model(**data, mode='loss')
    missing = [t for t in terms if f'loss_{t}' not in losses]
    if reference not in losses or missing:
        raise KeyError(
            f'gradient_share: the model logs {sorted(losses)}; expected '
            f'{reference} and loss_<term> for {missing}'
        )
    reference = _grad_norm(losses[reference], params)
    shares = {}
    for term in terms:
        norm = _grad_norm(losses[f'loss_{term}'], params)
        shares[term] = norm / reference if reference else float('inf')
    return shares
