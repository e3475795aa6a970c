"""The diversity terms: one table of name -> loss key -> what each reads.

Every model type (``DiverseImageClassifier``, ``DiverseEncoderDecoder``,
``DiverseMAE``, ``DiverseSimMIM``, through ``DiversityMixin``) and the
configs' tests use :data:`TERM_TABLE`. Checkpoint export does not: it reads
the term names from the config's ``model.diversity`` itself
(``mmdiverse.checkpoint.metadata.regularizers_from_cfg``), because the
checkpoint package must not import the models. A term reads fields of
:class:`TermInputs`, the tensors one captured forward pass provides:

==================  ======================  =====================================
term                loss key                reads (:class:`TermInputs` fields)
==================  ======================  =====================================
``patch_cos``       ``loss_patch_cos``      ``tokens``
``patch_contrast``  ``loss_patch_contrast`` ``first, tokens, first_hw, tokens_hw``
``patch_mix``       ``loss_patch_mix``      ``patch_logits, patch_targets``
``attn_div``        ``loss_attn_div``       ``attention`` (mean over the blocks)
``weight_cond``     ``loss_weight_cond``    ``qkv_weights``
==================  ======================  =====================================

Papers: `Vision Transformers with Patch Diversification
<https://arxiv.org/abs/2104.12753>`_ (patch cosine, contrastive, mixing) and
`The Principle of Diversity <https://arxiv.org/abs/2203.06345>`_ (attention,
weight).
"""

import dataclasses
from typing import Callable, List, Optional, Tuple

import torch


@dataclasses.dataclass
class TermInputs:
    """The tensors of one forward pass that the terms read.

    Attributes:
        tokens: ``(B, n, d)`` last patch tokens the similarity terms read
            (``diversity.tap.similarity_tokens``: after the final norm, or
            the last block's output before it).
        tokens_hw: ``(h, w)`` grid of ``tokens``, ``n = h * w``.
        first: ``(B, n1, d)`` patch tokens entering the ``first_layer``
            block, or None when ``patch_contrast`` is off.
        first_hw: ``(h1, w1)`` grid of ``first``.
        attention: ``(B, H, N, N)`` attention probabilities of each block of
            ``tap.attn_layers`` (``N`` includes class tokens).
        qkv_weights: ``(3, d, d_in)`` q, k and v projection weights of
            every block (views of the fused ``qkv``), or None when
            ``weight_cond`` is off.
        patch_logits: ``(B, n, K)`` logits of every post-norm patch token
            through the classifier head's last layer (classifiers only).
        patch_targets: ``(B, n, K)`` per-patch soft targets.
    """

    tokens: torch.Tensor
    tokens_hw: Optional[Tuple[int, int]] = None
    first: Optional[torch.Tensor] = None
    first_hw: Optional[Tuple[int, int]] = None
    attention: Tuple[torch.Tensor, ...] = ()
    qkv_weights: Optional[List[torch.Tensor]] = None
    patch_logits: Optional[torch.Tensor] = None
    patch_targets: Optional[torch.Tensor] = None


def _tokens(loss, x: TermInputs) -> torch.Tensor:
    return loss(x.tokens)


def _first_and_tokens(loss, x: TermInputs) -> torch.Tensor:
    return loss(x.first, x.tokens, x.first_hw, x.tokens_hw)


def _patch_logits_and_targets(loss, x: TermInputs) -> torch.Tensor:
    return loss(x.patch_logits, x.patch_targets)


def _attention_mean(loss, x: TermInputs) -> torch.Tensor:
    # Averaged over the chosen blocks: adding blocks does not rescale the
    # term relative to its loss_weight.
    return sum(loss(a) for a in x.attention) / len(x.attention)


def _qkv_weights(loss, x: TermInputs) -> torch.Tensor:
    return loss(x.qkv_weights)


@dataclasses.dataclass(frozen=True)
class DiversityTerm:
    """One row of :data:`TERM_TABLE`.

    Attributes:
        name: Config key under ``diversity``.
        loss_key: Key of the term in the model's loss dict.
        reads: :class:`TermInputs` fields the term reads.
        evaluate: ``(loss_module, TermInputs) -> scalar Tensor``.
        needs_head: Reads classifier-head outputs (not available to
            segmentors).
    """

    name: str
    loss_key: str
    reads: Tuple[str, ...]
    evaluate: Callable[[torch.nn.Module, TermInputs], torch.Tensor]
    needs_head: bool = False


#: The terms, in the order they are computed and logged.
TERM_TABLE: Tuple[DiversityTerm, ...] = (
    DiversityTerm('patch_cos', 'loss_patch_cos', ('tokens',), _tokens),
    DiversityTerm(
        'patch_contrast',
        'loss_patch_contrast',
        ('first', 'tokens', 'first_hw', 'tokens_hw'),
        _first_and_tokens,
    ),
    DiversityTerm(
        'patch_mix',
        'loss_patch_mix',
        ('patch_logits', 'patch_targets'),
        _patch_logits_and_targets,
        needs_head=True,
    ),
    DiversityTerm('attn_div', 'loss_attn_div', ('attention',), _attention_mean),
    DiversityTerm('weight_cond', 'loss_weight_cond', ('qkv_weights',), _qkv_weights),
)
#: ``{name: DiversityTerm}``.
TERMS_BY_NAME = {term.name: term for term in TERM_TABLE}
#: Term names in order (the one list the models and the configs' tests use).
TERMS: Tuple[str, ...] = tuple(term.name for term in TERM_TABLE)
#: Terms a model without a classifier head and labels (a segmentor, a
#: self-supervised model) can compute.
SEGMENTATION_TERMS: Tuple[str, ...] = tuple(term.name for term in TERM_TABLE if not term.needs_head)
#: The same terms, named for what they need: no labels (self-supervised models).
LABEL_FREE_TERMS: Tuple[str, ...] = SEGMENTATION_TERMS
#: Diagnostic key (detached mean patch cosine similarity of the post-norm
#: last tokens; contains no 'loss', so mmengine logs it without
#: backpropagating it).
DIAG_KEY = 'patch_cos_sim'


def loss_key(term: str) -> str:
    """The loss-dict key of ``term`` (``'patch_cos'`` -> ``'loss_patch_cos'``)."""
    return TERMS_BY_NAME[term].loss_key
