"""The diversity terms of one backbone, reusable by any model type.

:class:`DiversityRegularizer` owns the configured loss modules and a tap on
the backbone, and turns one captured forward pass into the ``loss_*`` terms.
``DiverseImageClassifier`` uses it; a segmentor can too::

    self.diversity = DiversityRegularizer(self.backbone, diversity_cfg)
    with self.diversity.capture() as taps:
        feats = self.extract_feat(inputs)
    losses.update(self.diversity.compute(taps))  # no patch_mix there
"""
from typing import Callable, Dict, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS

from ..taps import BaseTap, TapOutputs, build_tap

#: Diversity terms, in the order they are computed; loss key ``loss_<term>``.
TERMS = ('patch_cos', 'patch_contrast', 'patch_mix', 'attn_div',
         'weight_cond')
#: Diagnostic key (detached mean patch cosine similarity of the last tokens;
#: contains no 'loss', so mmengine logs it without backpropagating it).
DIAG_KEY = 'patch_cos_sim'
#: Blocks whose attention ``attn_div`` reads when ``tap.attn_layers`` is
#: not given.
DEFAULT_ATTN_LAYERS = (0, )


def loss_key(term: str) -> str:
    return f'loss_{term}'


class DiversityRegularizer(nn.Module):
    """Builds and evaluates the configured diversity terms of a backbone.

    Args:
        backbone (nn.Module): The model's backbone (referenced, not owned:
            it is not registered as a submodule here).
        diversity (dict): ``tap`` (tap config, optional) and any of
            ``patch_cos``, ``patch_contrast``, ``patch_mix``, ``attn_div``,
            ``weight_cond`` (loss configs for ``mmpretrain.registry.MODELS``
            or built modules). Omitted terms cost nothing.
        cfg_key (str): Config path for error messages.
            Defaults to ``'diversity'``.
        options (Sequence[str]): Extra keys the owner consumes (kept in
            :attr:`options`, not interpreted here).
        supported_terms (Sequence[str]): Terms the owner can compute.
            Defaults to all.

    Attributes:
        losses (nn.ModuleDict): ``{term: loss module}``.
        term_scales (dict): ``{term: factor}`` multiplied onto each term
            (1.0; set by ``LossWeightWarmupHook``). A term with factor 0 is
            not computed and reported as 0.
    """

    def __init__(self,
                 backbone: nn.Module,
                 diversity: dict,
                 cfg_key: str = 'diversity',
                 options: Sequence[str] = (),
                 supported_terms: Sequence[str] = TERMS):
        super().__init__()
        cfg = dict(diversity)
        allowed = set(TERMS) | {'tap'} | set(options)
        unknown = sorted(set(cfg) - allowed)
        if unknown:
            raise ValueError(f'{cfg_key}: unknown keys {unknown}; allowed: '
                             f'{sorted(allowed)}')
        self.cfg_key = cfg_key
        self.options = {k: cfg.pop(k) for k in options if k in cfg}
        tap_cfg = dict(cfg.pop('tap', None) or {})

        self.losses = nn.ModuleDict()
        for term in TERMS:
            loss_cfg = cfg.get(term)
            if loss_cfg is None:
                continue
            if term not in supported_terms:
                raise ValueError(f'{cfg_key}.{term} is not supported by this '
                                 f'model; supported: {list(supported_terms)}')
            if isinstance(loss_cfg, nn.Module):
                self.losses[term] = loss_cfg
                continue
            # The losses live in mmpretrain's registry; segmentors build
            # this in the mmseg scope.
            try:
                with DefaultScope.overwrite_default_scope('mmpretrain'):
                    self.losses[term] = MODELS.build(loss_cfg)
            except (KeyError, TypeError) as error:
                raise type(error)(f'{cfg_key}.{term}={dict(loss_cfg)!r} cannot be built: '
                                  f'{error}') from error
        self.term_scales: Dict[str, float] = {t: 1. for t in self.losses}

        tap_cfg.setdefault('cfg_key', f'{cfg_key}.tap')
        tap = build_tap(backbone, tap_cfg)
        if ('attn_div' in self.losses and tap.supports_attention
                and not tap.attn_layers):
            tap.set_attn_layers(DEFAULT_ATTN_LAYERS)
        tap.validate(
            first='patch_contrast' in self.losses,
            attn='attn_div' in self.losses,
            weights='weight_cond' in self.losses,
            keys=dict(
                first=f'{cfg_key}.patch_contrast',
                attn=f'{cfg_key}.attn_div',
                weights=f'{cfg_key}.weight_cond'))
        # A plain attribute: the tap references the backbone owned by the
        # model; deepcopy (EMA) maps it to the copied backbone.
        self._tap = tap

    @property
    def tap(self) -> BaseTap:
        return self._tap

    @property
    def terms(self):
        return tuple(self.losses.keys())

    def set_term_scale(self, term: str, scale: float) -> None:
        """Set the factor of ``term`` (``'all'``: every configured term)."""
        terms = self.terms if term == 'all' else (term, )
        for t in terms:
            if t not in self.term_scales:
                raise KeyError(f'{self.cfg_key}.{t} is not configured; '
                               f'configured: {list(self.terms)}')
            self.term_scales[t] = float(scale)

    def capture(self, **kwargs):
        """The tap's capture context with what the configured terms need."""
        kwargs.setdefault('first', 'patch_contrast' in self.losses)
        kwargs.setdefault('attn', 'attn_div' in self.losses)
        return self._tap.capture(**kwargs)

    def compute(self,
                taps: TapOutputs,
                patch_mix_inputs: Optional[Callable[[TapOutputs],
                                                    tuple]] = None
                ) -> Dict[str, torch.Tensor]:
        """The ``loss_*`` terms and the ``patch_cos_sim`` diagnostic.

        Args:
            taps (TapOutputs): Filled by :meth:`capture`.
            patch_mix_inputs (callable, optional): ``taps -> (patch_logits,
                patch_targets)`` (both ``(B, n, K)``); required when
                ``patch_mix`` is configured.

        Returns:
            dict[str, Tensor]
        """
        last = taps.last
        if last is None:
            raise RuntimeError(
                f'{type(self._tap).__name__} captured no last tokens: did the '
                'backbone run inside capture()?')
        out: Dict[str, torch.Tensor] = {}
        for term in self.losses:
            scale = self.term_scales[term]
            if scale == 0:
                out[loss_key(term)] = last.new_zeros((), dtype=torch.float32)
                continue
            value = getattr(self, f'_{term}')(taps, patch_mix_inputs)
            out[loss_key(term)] = value if scale == 1 else value * scale
        out[DIAG_KEY] = self.diagnostic(last)
        return out

    @torch.no_grad()
    def diagnostic(self, last: torch.Tensor) -> torch.Tensor:
        from ..losses import patch_cosine_similarity
        cos = self.losses['patch_cos'] if 'patch_cos' in self.losses else None
        absolute = getattr(cos, 'absolute', True)
        return patch_cosine_similarity(last.detach(), absolute=absolute)

    # ---------------------------------------------------------------- terms
    def _patch_cos(self, taps, _):
        return self.losses['patch_cos'](taps.last)

    def _patch_contrast(self, taps, _):
        first, last = taps.first, taps.last
        if first is None:
            raise RuntimeError(
                f'{self.cfg_key}.patch_contrast: the first tap '
                f'{self._tap.layer_name(self._tap.first_layer)!r} did not '
                'fire during the forward pass')
        if first.shape[-1] != last.shape[-1]:
            raise ValueError(
                f'{self.cfg_key}.patch_contrast: the first tap '
                f'{self._tap.layer_name(self._tap.first_layer)!r} has width '
                f'{first.shape[-1]} but the last tokens have width '
                f'{last.shape[-1]}; set {self.cfg_key}.tap.first_layer to a '
                'layer whose input has the final width, or remove '
                f'{self.cfg_key}.patch_contrast. '
                f'{self._tap.valid_layers_message()}')
        return self.losses['patch_contrast'](first, last, taps.first_hw,
                                             taps.last_hw)

    def _patch_mix(self, taps, patch_mix_inputs):
        if patch_mix_inputs is None:
            raise ValueError(f'{self.cfg_key}.patch_mix needs a classifier '
                             'head (per-patch logits and targets)')
        logits, targets = patch_mix_inputs(taps)
        return self.losses['patch_mix'](logits, targets)

    def _attn_div(self, taps, _):
        missing = [i for i in self._tap.attn_layers if i not in taps.attn]
        if missing:
            raise RuntimeError(
                f'{self.cfg_key}.attn_div: no attention captured for '
                f'{[self._tap.layer_names[i] for i in missing]}')
        values = [self.losses['attn_div'](taps.attn[i])
                  for i in self._tap.attn_layers]
        # Averaged over the chosen blocks: adding blocks does not rescale
        # the term relative to its loss_weight.
        return sum(values) / len(values)

    def _weight_cond(self, taps, _):
        return self.losses['weight_cond'](self._tap.qkv_weights())

    def extra_repr(self) -> str:
        return f'tap={self._tap!r}'
