"""Per-layer redundancy report of a backbone over a stream of batches."""

from typing import Dict, Iterable, Optional

import torch
import torch.nn as nn

from mmdiverse.models.taps import build_tap
from .redundancy import RunningMean, condition_numbers, mean_head_similarity, mean_patch_similarity


@torch.no_grad()
def redundancy_report(
    model: nn.Module,
    batches: Iterable[dict],
    attention: bool = True,
    weights: bool = True,
    tap_cfg: Optional[dict] = None,
) -> Dict[str, dict]:
    """Measure patch, attention-head and weight redundancy of ``model.backbone``.

    Args:
        model: an mmpretrain classifier (anything with ``backbone`` and
            ``data_preprocessor``), in eval mode.
        batches: data batches as a dataloader yields them (``inputs``,
            ``data_samples``).
        attention: measure head similarity of every block (when the backbone
            has attention maps).
        weights: measure condition numbers of every q, k, v projection.
        tap_cfg: tap config (``type`` inferred from the backbone if absent).

    Returns:
        dict: ``patch_similarity`` ``{layer name: mean over images}``,
        ``head_similarity`` ``{layer name: mean}`` and ``condition_number``
        ``{layer name: {'q': .., 'k': .., 'v': ..}}`` (the last two empty
        where not applicable), and ``num_images``.
    """
    tap = build_tap(model.backbone, tap_cfg)
    names = tap.layer_names
    attn_layers = list(range(len(names))) if attention and tap.supports_attention else []
    patch, heads, num_images = RunningMean(), RunningMean(), 0

    def on_block(index, tokens, hw):
        patch.update(index, mean_patch_similarity(tokens))

    for batch in batches:
        inputs = model.data_preprocessor(batch, False)['inputs']
        with tap.capture(first=False, last=False, attn=attn_layers, per_layer=on_block) as out:
            model.backbone(inputs)
        for index, probs in out.attn.items():
            heads.update(index, mean_head_similarity(probs).view(inputs.shape[0], -1).mean(1))
        num_images += inputs.shape[0]
    if num_images == 0:
        raise ValueError('redundancy_report got no batches')

    conditions = {}
    if weights and tap.supports_weights:
        # qkv_weights() gives a (3, d, d_in) q, k, v view per block, in order.
        numbers = condition_numbers([m for w in tap.qkv_weights() for m in w])
        for block, start in zip(names, range(0, len(numbers), 3)):
            conditions[block] = dict(zip('qkv', numbers[start : start + 3]))
    return dict(
        num_images=num_images,
        patch_similarity={names[i]: v for i, v in patch.result().items()},
        head_similarity={names[i]: v for i, v in heads.result().items()},
        condition_number=conditions,
    )
