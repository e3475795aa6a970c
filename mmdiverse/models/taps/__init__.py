"""Token taps: capture patch tokens and attention maps of stock backbones.

A tap reads, during a backbone's ordinary forward pass, the tensors the
diversity regularizers need, through PyTorch module hooks that exist only
inside ``tap.capture()``. The backbone's code and modules stay stock, and a
forward pass outside ``capture()`` (inference) runs exactly as without a tap.

API::

    from mmdiverse.models.taps import build_tap

    tap = build_tap(backbone, first_layer=0, attn_layers=(0,))
    # or build_tap(backbone, dict(type='SwinTap', attn_layers=(0,)))

    with tap.capture() as out:               # hooks live only in here
        feats = backbone(images)              # the stock forward
    out.last        # (B, n, d) patch tokens after the final norm
    out.last_hw     # (h, w) grid of ``last``; n == h * w, row-major
    out.first       # (B, n1, d) tokens entering block ``first_layer``
    out.first_hw    # (h1, w1)
    out.attn        # {block_index: (B, H, N, N) attention probabilities}

    with tap.capture(pre_norm=True) as out:  # token taps and Swin only
        backbone(images)
    out.last_pre_norm   # (B, n, d) last block's output before the final
                        # norm, on the grid ``last_hw`` (Diverse-ViT)
    # build_tap(..., similarity_tokens='pre_norm') makes pre_norm=True the
    # capture default; tap.similarity_last(out) is then out.last_pre_norm
    # (else out.last): the "last" of the cosine and contrastive terms.

    with tap.capture(first=False, attn=False, per_layer=True) as out:
        backbone(images)
    out.per_layer   # {block_index: (B, n_i, d_i)} output of every block
    out.per_layer_hw

    tap.capture(per_layer=fn)   # fn(block_index, tokens, hw) per block,
                                # called during the forward (no storage)
    tap.capture(attn=(3, 7))    # override the blocks whose attention is read
    feats, out = tap.extract(images, **capture_kwargs)
    tap.qkv_weights()           # [(3, d, d_in) q/k/v views, ...], all blocks
    tap.layer_names             # block names, e.g. ['layers.0', ...]
    tap.validate(first=True, attn=True, weights=True, keys={...})

Captured tensors keep their autograd graph (losses on them train the
backbone). Class / distillation / register tokens are dropped from token
taps (attention maps keep them). Layers are given as block indices
(negative ones count from the end) or names; an unknown layer fails at build
time with the list of valid names. Only the blocks in ``attn_layers`` (or
the ``attn`` override) compute attention explicitly, and only inside
``capture()``; all other blocks keep fused ``scaled_dot_product_attention``
(see :mod:`mmdiverse.models.taps.attention`).

Taps (type inferred from the backbone class when not given):

================  ===========================================  ============
tap               backbone                                     first (def.)
================  ===========================================  ============
``ViTTap``        mmpretrain ``VisionTransformer``, DeiT       block 0
``MAEViTTap``     mmpretrain ``MAEViT`` (visible tokens only)  block 0
``SwinTap``       mmpretrain ``SwinTransformer``               1st block of
                                                               last stage
``TimmViTTap``    ``TIMMBackbone`` of a ViT-like timm model    block 0
``TimmCNNTap``    ``TIMMBackbone`` of a timm CNN               last block
``CNNTap``        any CNN: last feature map positions =        last block
                  patches
================  ===========================================  ============

``ViTTap`` and ``TimmViTTap`` share :class:`TokenTap`; ``TimmTap`` names
the timm family (``build_tap`` picks the kind). CNNs have no attention maps,
q, k, v weights or final norm: requesting them (or ``similarity_tokens=
'pre_norm'``) raises, naming the config key.

Modules: ``outputs`` (:class:`TapOutputs`, :class:`CaptureRequest`),
``base`` (:class:`BaseTap`), ``builder`` (registry, inference,
:func:`build_tap`), ``layers`` (:class:`LayerIndex`), ``hooks``
(:class:`HookSet`), ``attention`` (attention capture), one module per tap.
"""

from .attention import explicit_attention
from .base import SIMILARITY_TOKENS, BaseTap
from .builder import TAPS, build_tap, infer_tap_type, register_tap
from .cnn import CNNTap, enumerate_blocks, feature_map_to_tokens
from .hooks import HookSet
from .layers import LayerIndex, LayerSpec
from .mae_vit import MAEViTTap
from .outputs import CaptureRequest, PerLayerCallback, TapOutputs
from .swin import SwinTap
from .timm_cnn import TimmCNNTap
from .timm_tap import TimmTap
from .timm_vit import TimmViTTap
from .token import TokenTap
from .vit import ViTTap

__all__ = [
    'TAPS',
    'BaseTap',
    'TapOutputs',
    'CaptureRequest',
    'PerLayerCallback',
    'HookSet',
    'LayerIndex',
    'LayerSpec',
    'SIMILARITY_TOKENS',
    'build_tap',
    'infer_tap_type',
    'register_tap',
    'feature_map_to_tokens',
    'explicit_attention',
    'TokenTap',
    'ViTTap',
    'SwinTap',
    'CNNTap',
    'TimmTap',
    'TimmViTTap',
    'TimmCNNTap',
    'MAEViTTap',
    'enumerate_blocks',
]
