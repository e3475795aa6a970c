"""Shared by the converter tests: state dicts from the real model definitions
(timm and mmpretrain) at random initialisation, and tensor-by-tensor checks."""

from collections import OrderedDict

import torch


def timm_state_dict(name):
    """The state dict of timm model ``name`` with random values: keys, shapes
    and dtypes from the real definition (built on the meta device, which
    skips seconds of random initialisation per model)."""
    import timm

    meta = timm.create_model(name, device='meta').state_dict()
    torch.manual_seed(0)
    return OrderedDict((k, torch.randn(v.shape, dtype=v.dtype)) for k, v in meta.items())


def build_mmpretrain(cfg):
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    init_default_scope('mmpretrain')
    return MODELS.build(cfg).eval()


def assert_same_tensors(a, b):
    assert list(a) == list(b), f'keys differ: {sorted(set(a) ^ set(b))[:10]}'
    for key in a:
        assert a[key].dtype == b[key].dtype, key
        assert torch.equal(a[key], b[key]), key


def assert_loads_strictly(model, state_dict):
    result = model.load_state_dict(state_dict, strict=False)
    assert not result.missing_keys, result.missing_keys[:10]
    assert not result.unexpected_keys, result.unexpected_keys[:10]
    for key, value in model.state_dict().items():
        assert torch.equal(value, state_dict[key]), key
