"""timm ``VisionTransformer`` (ViT, DeiT, DeiT distilled) <-> mmpretrain.

Keys of timm's ``vision_transformer.py`` (``vit_*``, ``deit_*``; the
distilled DeiT adds ``dist_token`` and ``head_dist``) and of mmpretrain's
``VisionTransformer`` / ``DistilledVisionTransformer`` backbone with a
``VisionTransformerClsHead`` / ``DeiTClsHead`` head. Both use a fused
``qkv`` projection in the same (q, k, v) order, so every tensor is copied
unchanged; the position embedding keeps its grid (mmpretrain resizes it at
load time when the config's image size differs).

Not mapped (reported): timm's ``fc_norm`` (average pooling head norm), the
q/k norms of ``qk_norm`` models, register tokens.
"""

from typing import Mapping, Tuple

from .common import ConversionReport, Rule, StateDict, Tensor, apply_rules

NAME = 'timm-vit'

RULES = [
    Rule('cls_token', 'backbone.cls_token'),
    Rule('dist_token', 'backbone.dist_token'),
    Rule('pos_embed', 'backbone.pos_embed'),
    Rule('patch_embed.proj.{p}', 'backbone.patch_embed.projection.{p}'),
    Rule('patch_embed.norm.{p}', 'backbone.patch_embed.norm.{p}'),
    Rule('norm_pre.{p}', 'backbone.pre_norm.{p}'),
    Rule('blocks.{i}.norm1.{p}', 'backbone.layers.{i}.ln1.{p}'),
    Rule('blocks.{i}.attn.qkv.{p}', 'backbone.layers.{i}.attn.qkv.{p}'),
    Rule('blocks.{i}.attn.proj.{p}', 'backbone.layers.{i}.attn.proj.{p}'),
    Rule('blocks.{i}.ls1.gamma', 'backbone.layers.{i}.attn.gamma1.weight'),
    Rule('blocks.{i}.norm2.{p}', 'backbone.layers.{i}.ln2.{p}'),
    Rule('blocks.{i}.mlp.fc1.{p}', 'backbone.layers.{i}.ffn.layers.0.0.{p}'),
    Rule('blocks.{i}.mlp.fc2.{p}', 'backbone.layers.{i}.ffn.layers.1.{p}'),
    Rule('blocks.{i}.ls2.gamma', 'backbone.layers.{i}.ffn.gamma2.weight'),
    Rule('norm.{p}', 'backbone.ln1.{p}'),
    Rule('pre_logits.fc.{p}', 'head.layers.pre_logits.{p}'),
    Rule('head.{p}', 'head.layers.head.{p}'),
    Rule('head_dist.{p}', 'head.layers.head_dist.{p}'),
]


def detect(state_dict: Mapping[str, Tensor]) -> bool:
    keys = set(state_dict)
    return 'blocks.0.attn.qkv.weight' in keys and (
        'patch_embed.proj.weight' in keys or 'pos_embed' in keys
    )


def to_mmpretrain(state_dict: Mapping[str, Tensor]) -> Tuple[StateDict, ConversionReport]:
    """timm keys -> mmpretrain ``ImageClassifier`` keys."""
    return apply_rules(state_dict, RULES, (), {}, NAME, 'mmpretrain')


def from_mmpretrain(state_dict: Mapping[str, Tensor]) -> Tuple[StateDict, ConversionReport]:
    """mmpretrain ``ImageClassifier`` keys -> timm keys."""
    return apply_rules(state_dict, RULES, (), {}, 'mmpretrain', NAME, reverse=True)
