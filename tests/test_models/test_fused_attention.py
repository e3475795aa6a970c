"""Only the blocks whose attention is regularized leave fused attention.

Issue 15, item 3: with the PyTorch profiler, one diverse training step of a
4-block ViT (``attn_div`` on blocks 0 and 2) calls
``aten::scaled_dot_product_attention`` in the forward pass of the other two
blocks only, and inference calls it in all four.
"""

import numpy as np
import torch
from mmengine.optim import OptimWrapper
from torch.profiler import ProfilerActivity, profile

from tests.helpers.tiny_classifier import AUGMENTS, make_batch, vit_classifier

SDPA = 'aten::scaled_dot_product_attention'
NUM_LAYERS = 4
ATTN_LAYERS = (0, 2)


def sdpa_calls(fn):
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return sum(1 for event in prof.events() if event.name == SDPA)


def test_only_tapped_blocks_run_explicit_attention():
    torch.manual_seed(0)
    np.random.seed(0)
    model = vit_classifier(
        AUGMENTS['patch_cutmix'], num_layers=NUM_LAYERS, attn_layers=ATTN_LAYERS
    ).train()
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.0))
    data = make_batch(4, 'cpu', seed=0)
    log_vars = {}

    def step():
        log_vars.update(model.train_step(data, wrapper))

    assert sdpa_calls(step) == NUM_LAYERS - len(ATTN_LAYERS)
    assert torch.isfinite(log_vars['loss_attn_div'])
    model.eval()
    inputs = make_batch(2, 'cpu', seed=1)['inputs'].float()
    with torch.no_grad():
        assert sdpa_calls(lambda: model(inputs)) == NUM_LAYERS
