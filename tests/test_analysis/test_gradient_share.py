import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.runner import set_random_seed

from mmdiverse.analysis.gradient_share import gradient_share
from mmdiverse.apis import build_model
from tests.helpers.tools import REPO_ROOT

CONFIG = f'{REPO_ROOT}/configs/demo/vit_tiny_shapes_ablation.py'


def _model_and_batch(root, **terms):
    from mmpretrain.registry import DATASETS

    cfg = Config.fromfile(CONFIG)
    cfg.model.diversity.update(terms)
    cfg.train_dataloader.dataset.data_root = root
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    set_random_seed(0)
    model = build_model(cfg)
    model.init_weights()
    torch.nn.init.normal_(model.head.layers.head.weight, std=0.1)  # a non-zero CE gradient
    model.train()
    return model, pseudo_collate([dataset[i] for i in range(0, len(dataset), 4)])


def _reference(model, batch, key):
    set_random_seed(1)
    losses = model(**model.data_preprocessor(copy.deepcopy(batch), True), mode='loss')
    params = list(model.backbone.parameters())
    norms = []
    for name in ('loss_cls', key):
        grads = torch.autograd.grad(losses[name], params, retain_graph=True, allow_unused=True)
        norms.append(torch.cat([g.flatten() for g in grads if g is not None]).norm())
    return float(norms[1] / norms[0])


def test_share_is_the_ratio_of_backbone_gradient_norms(shapes_cls_root):
    model, batch = _model_and_batch(
        shapes_cls_root, attn_div=dict(type='AttentionDiversityLoss', loss_weight=1.0)
    )
    set_random_seed(1)
    share = gradient_share(model, batch, ['attn_div'])['attn_div']
    assert share == pytest.approx(_reference(model, batch, 'loss_attn_div'), rel=1e-5)
    assert share > 0
    # the batch is left as it was: the same call gives the same share
    set_random_seed(1)
    assert gradient_share(model, batch, ['attn_div'])['attn_div'] == share
    model.diversity.losses['attn_div'].loss_weight = 1e-4  # linear in the weight
    set_random_seed(1)
    assert gradient_share(model, batch, ['attn_div'])['attn_div'] == pytest.approx(
        share * 1e-4, rel=1e-4
    )


def test_unconfigured_term_is_named(shapes_cls_root):
    model, batch = _model_and_batch(
        shapes_cls_root, patch_cos=dict(type='PatchCosineLoss', loss_weight=0.5)
    )
    with pytest.raises(KeyError, match=r'\[\'weight_cond\'\]'):
        gradient_share(model, batch, ['weight_cond'])
