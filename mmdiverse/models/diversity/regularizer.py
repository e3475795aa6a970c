"""The diversity terms of one backbone, reusable by any model type.

:class:`DiversityRegularizer` owns the configured loss modules and a tap on
the backbone, and turns one captured forward pass into the ``loss_*`` terms
of :data:`~mmdiverse.models.diversity.terms.TERM_TABLE`. A model uses it
through :class:`~mmdiverse.models.diversity.DiversityMixin` as "capture
around the stock loss, then add the terms"::

    with self.diversity.capture() as captured:
        losses = super().loss(inputs, data_samples)
    losses = self.diversity.add_terms(losses, captured)
"""

import math
import numbers
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS

from ..losses import patch_cosine_similarity
from ..taps import BaseTap, TapOutputs, build_tap
from .patch_mixing import PatchMixingTerm
from .terms import DIAG_KEY, TERMS, TERMS_BY_NAME, TermInputs


def gather_tokens(tokens: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``(B, n, d)`` tokens, ``(B, m)`` indices -> ``(B, m, d)``."""
    return tokens.gather(1, index.to(tokens.device).unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))


#: Blocks whose attention ``attn_div`` reads when ``tap.attn_layers`` is
#: not given.
DEFAULT_ATTN_LAYERS = (0,)


class DiversityRegularizer(nn.Module):
    """Builds and evaluates the configured diversity terms of a backbone.

    Args:
        backbone (nn.Module): The model's backbone (referenced, not owned:
            it is not registered as a submodule here).
        diversity (dict): ``tap`` (tap config, optional; its
            ``similarity_tokens`` is ``'post_norm'`` (default, the backbone's
            output tokens after its final norm) or ``'pre_norm'`` (the last
            block's output before it, Diverse-ViT; docs/fidelity.md): the
            "last" tokens of ``patch_cos`` and ``patch_contrast``) and any of
            the terms of ``TERM_TABLE`` (loss configs for
            ``mmpretrain.registry.MODELS`` or built modules). Omitted terms
            cost nothing.
        cfg_key (str): Config path for error messages.
            Defaults to ``'diversity'``.
        options (Sequence[str]): Extra keys the owner consumes (kept in
            :attr:`options`, not interpreted here).
        supported_terms (Sequence[str]): Terms the owner can compute.
            Defaults to all.
        head (nn.Module, optional): The classifier head ``patch_mix`` reads
            (referenced, not owned). Defaults to None.
        neck (nn.Module, optional): The classifier neck (parameter-free
            with ``patch_mix``). Defaults to None.

    Attributes:
        losses (nn.ModuleDict): ``{term: loss module}``, in table order.
        patch_mixing (PatchMixingTerm | None): Head adapter, targets and
            composition of ``patch_mix``.
        term_scales (dict): ``{term: factor}`` multiplied onto each term
            (1.0; set by ``LossWeightWarmupHook``). A term with factor 0 is
            not computed and reported as 0.
    """

    def __init__(
        self,
        backbone: nn.Module,
        diversity: dict,
        cfg_key: str = 'diversity',
        options: Sequence[str] = (),
        supported_terms: Sequence[str] = TERMS,
        head: Optional[nn.Module] = None,
        neck: Optional[nn.Module] = None,
    ):
        super().__init__()
        cfg = dict(diversity)
        allowed = set(TERMS) | {'tap'} | set(options)
        unknown = sorted(set(cfg) - allowed)
        if unknown:
            raise ValueError(f'{cfg_key}: unknown keys {unknown}; allowed: {sorted(allowed)}')
        self.cfg_key = cfg_key
        self.options = {k: cfg.pop(k) for k in options if k in cfg}
        tap_cfg = dict(cfg.pop('tap', None) or {})

        self.losses = nn.ModuleDict()
        for term in TERMS:
            if cfg.get(term) is None:
                continue
            if term not in supported_terms:
                why = (
                    ' (it trains patch tokens through a classifier head on labels)'
                    if TERMS_BY_NAME[term].needs_head
                    else ''
                )
                raise ValueError(
                    f'{cfg_key}.{term} is not supported by this '
                    f'model{why}; supported: {list(supported_terms)}'
                )
            self.losses[term] = self._build_loss(term, cfg[term])
        self.term_scales: Dict[str, float] = {t: 1.0 for t in self.losses}
        self.patch_mixing = None
        if 'patch_mix' in self.losses:
            self.patch_mixing = PatchMixingTerm(
                self.losses['patch_mix'],
                head,
                neck,
                label_smooth=self.options.get('patch_label_smooth'),
                cfg_key=cfg_key,
            )

        tap_cfg.setdefault('cfg_key', f'{cfg_key}.tap')
        tap = build_tap(backbone, tap_cfg)
        if 'attn_div' in self.losses and tap.supports_attention and not tap.attn_layers:
            tap.set_attn_layers(DEFAULT_ATTN_LAYERS)
        tap.validate(
            first='patch_contrast' in self.losses,
            attn='attn_div' in self.losses,
            weights='weight_cond' in self.losses,
            keys=dict(
                first=f'{cfg_key}.patch_contrast',
                attn=f'{cfg_key}.attn_div',
                weights=f'{cfg_key}.weight_cond',
            ),
        )
        # A plain attribute: the tap references the backbone owned by the
        # model; deepcopy (EMA) maps it to the copied backbone.
        self._tap = tap

    def _build_loss(self, term: str, loss_cfg) -> nn.Module:
        key = f'{self.cfg_key}.{term}'
        if isinstance(loss_cfg, nn.Module):
            loss = loss_cfg
        else:
            # The losses live in mmpretrain's registry; segmentors build
            # this in the mmseg scope.
            try:
                with DefaultScope.overwrite_default_scope('mmpretrain'):
                    loss = MODELS.build(loss_cfg)
            except (KeyError, TypeError) as error:
                raise type(error)(f'{key}={dict(loss_cfg)!r} cannot be built: {error}') from error
        weight = getattr(loss, 'loss_weight', None)
        if isinstance(weight, numbers.Real) and not math.isfinite(weight):
            raise ValueError(
                f'{key}.loss_weight={weight} is not a finite number: every step '
                'would be non-finite; use a finite weight >= 0 (0 turns the term off)'
            )
        if isinstance(weight, numbers.Real) and weight < 0:
            raise ValueError(
                f'{key}.loss_weight={weight} is negative: training would '
                'maximize what the term penalizes; use a weight >= 0 (0 '
                'turns the term off)'
            )
        return loss

    @property
    def tap(self) -> BaseTap:
        return self._tap

    @property
    def terms(self):
        return tuple(self.losses.keys())

    def set_term_scale(self, term: str, scale: float) -> None:
        """Set the factor of ``term`` (``'all'``: every configured term)."""
        terms = self.terms if term == 'all' else (term,)
        for t in terms:
            if t not in self.term_scales:
                raise KeyError(
                    f'{self.cfg_key}.{t} is not configured; configured: {list(self.terms)}'
                )
            self.term_scales[t] = float(scale)

    def capture(self):
        """The tap's capture context with what the configured terms need
        (the pre-norm last tokens too, with ``similarity_tokens='pre_norm'``)."""
        return self._tap.capture(
            first='patch_contrast' in self.losses, attn='attn_div' in self.losses
        )

    def term_inputs(
        self,
        captured: TapOutputs,
        data_samples: Optional[List] = None,
        input_hw: Optional[Tuple[int, int]] = None,
        patch_targets: Optional[torch.Tensor] = None,
        token_index: Optional[torch.Tensor] = None,
    ) -> TermInputs:
        """What the configured terms read from one captured forward pass.

        Args:
            captured (TapOutputs): Filled by :meth:`capture`.
            data_samples (list, optional): The batch's data samples; read by
                ``patch_mix`` only (image-level targets).
            input_hw (tuple, optional): ``(H, W)`` of the inputs (messages).
            patch_targets (Tensor, optional): ``(B, n, K)`` per-patch targets
                of a ``PatchCutMix`` batch (``patch_mix`` only).
            token_index (Tensor, optional): ``(B, m)`` indices into the last
                grid: the similarity terms (and the diagnostic) read only
                these tokens of ``tokens`` and ``first`` (SimMIM's visible
                positions); ``first`` must then be on the last grid.

        Returns:
            TermInputs
        """
        if captured.last is None:
            raise RuntimeError(
                f'{type(self._tap).__name__} captured no last tokens: did the '
                'backbone run inside capture()?'
            )
        tokens = self._tap.similarity_last(captured)
        inputs = TermInputs(tokens=tokens, tokens_hw=captured.last_hw)
        if 'patch_contrast' in self.losses:
            inputs.first, inputs.first_hw = self._checked_first(captured, tokens)
        if token_index is not None:
            self._select_tokens(inputs, token_index)
        if 'attn_div' in self.losses:
            inputs.attention = self._checked_attention(captured)
        if 'weight_cond' in self.losses:
            inputs.qkv_weights = self._tap.qkv_weights()
        if self.patch_mixing is not None:
            if data_samples is None:
                raise ValueError(
                    f"{self.cfg_key}.patch_mix needs the batch's data samples (labels)"
                )
            inputs.patch_logits = self.patch_mixing.logits(captured.last)
            inputs.patch_targets = self.patch_mixing.targets(
                data_samples,
                inputs.patch_logits,
                patch_targets,
                last_hw=captured.last_hw,
                input_hw=input_hw,
            )
        return inputs

    def compute(self, captured: TapOutputs, **batch) -> Dict[str, torch.Tensor]:
        """The ``loss_*`` terms and the ``patch_cos_sim`` diagnostic.

        Arguments as :meth:`term_inputs`. No host synchronisation: every
        value stays a device tensor (mmengine logs them).

        Returns:
            dict[str, Tensor]: scalars, in table order.
        """
        inputs = self.term_inputs(captured, **batch)
        return self._evaluate(captured, inputs, batch.get('token_index'))

    def add_terms(
        self,
        losses: Dict[str, torch.Tensor],
        captured: TapOutputs,
        head_loss_key: Optional[str] = None,
        **batch,
    ) -> Dict[str, torch.Tensor]:
        """``losses`` (the stock ones) with the terms added.

        With ``patch_mix``, the head's class-token CE ``losses[head_loss_key]``
        is weighted as its ``composition`` says
        (:meth:`PatchMixingTerm.head_loss_factor`).

        Args:
            losses (dict): The model's stock losses (changed in place).
            captured (TapOutputs): Filled by :meth:`capture`.
            head_loss_key (str, optional): Key of the head's CE.
            **batch: As :meth:`term_inputs`.

        Returns:
            dict[str, Tensor]: ``losses``, then the terms of :meth:`compute`.
        """
        inputs = self.term_inputs(captured, **batch)
        if self.patch_mixing is not None and head_loss_key in losses:
            factor = self.patch_mixing.head_loss_factor(
                self.term_scales['patch_mix'], inputs.patch_logits.shape[1]
            )
            if factor != 1:
                losses[head_loss_key] = losses[head_loss_key] * factor
        losses.update(self._evaluate(captured, inputs, batch.get('token_index')))
        return losses

    def _select_tokens(self, inputs: TermInputs, index: torch.Tensor) -> None:
        """Keep the tokens ``index`` ``(B, m)`` of the last grid (in place)."""
        if inputs.first is not None and inputs.first.shape[1] != inputs.tokens.shape[1]:
            raise ValueError(
                f'{self.cfg_key}.patch_contrast: the first tokens ({inputs.first_hw}) are '
                f'not on the grid of the last tokens ({inputs.tokens_hw}), so the same '
                'positions cannot be selected in both'
            )
        inputs.tokens, inputs.tokens_hw = gather_tokens(inputs.tokens, index), None
        if inputs.first is not None:
            inputs.first, inputs.first_hw = gather_tokens(inputs.first, index), None

    def _evaluate(
        self, captured: TapOutputs, inputs: TermInputs, token_index: Optional[torch.Tensor] = None
    ) -> Dict[str, torch.Tensor]:
        out: Dict[str, torch.Tensor] = {}
        for name, loss in self.losses.items():
            term, scale = TERMS_BY_NAME[name], self.term_scales[name]
            if scale == 0:
                out[term.loss_key] = inputs.tokens.new_zeros((), dtype=torch.float32)
                continue
            value = term.evaluate(loss, inputs)
            out[term.loss_key] = value if scale == 1 else value * scale
        last = captured.last if token_index is None else gather_tokens(captured.last, token_index)
        out[DIAG_KEY] = self.diagnostic(last)
        return out

    @torch.no_grad()
    def diagnostic(self, last: torch.Tensor) -> torch.Tensor:
        """Detached mean pairwise cosine similarity of the post-norm last
        tokens (absolute or signed as ``patch_cos`` is configured)."""
        cos = self.losses['patch_cos'] if 'patch_cos' in self.losses else None
        absolute = getattr(cos, 'absolute', True)
        return patch_cosine_similarity(last.detach(), absolute=absolute)

    # ------------------------------------------------------------ checks
    def _checked_first(self, captured: TapOutputs, tokens: torch.Tensor):
        first, name = captured.first, self._tap.layer_name(self._tap.first_layer)
        if first is None:
            raise RuntimeError(
                f'{self.cfg_key}.patch_contrast: the first tap {name!r} did '
                'not fire during the forward pass'
            )
        if first.shape[-1] != tokens.shape[-1]:
            raise ValueError(
                f'{self.cfg_key}.patch_contrast: the first tap {name!r} has '
                f'width {first.shape[-1]} but the last tokens have width '
                f'{tokens.shape[-1]}; set {self.cfg_key}.tap.first_layer to a '
                'layer whose input has the final width, or remove '
                f'{self.cfg_key}.patch_contrast. '
                f'{self._tap.valid_layers_message()}'
            )
        return first, captured.first_hw

    def _checked_attention(self, captured: TapOutputs) -> Tuple[torch.Tensor, ...]:
        layers = self._tap.attn_layers
        missing = [i for i in layers if i not in captured.attn]
        if missing:
            raise RuntimeError(
                f'{self.cfg_key}.attn_div: no attention captured for '
                f'{[self._tap.layer_names[i] for i in missing]}'
            )
        return tuple(captured.attn[i] for i in layers)

    def extra_repr(self) -> str:
        return f'tap={self._tap!r}, similarity_tokens={self._tap.similarity_tokens!r}'
