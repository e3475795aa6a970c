"""Transfer metadata (mmdiverse.checkpoint.metadata)."""

import torch

from mmdiverse.checkpoint.metadata import regularizers_from_cfg
from mmdiverse.models.diversity import TERMS


def test_regularizers_from_cfg_reads_every_term_of_the_table():
    diversity = {
        term: dict(type='AnyLoss', loss_weight=0.1 * (i + 1))
        for i, term in enumerate(reversed(TERMS))
    }
    diversity['patch_cos'] = dict(type='PatchCosineLoss', loss_weight=0)  # off
    diversity['tap'] = dict(type='ViTTap', attn_layers=(0,))  # not a term
    diversity['patch_label_smooth'] = 0.1  # an option
    terms, weights = regularizers_from_cfg(dict(diversity=diversity))
    assert terms == sorted(t for t in TERMS if t != 'patch_cos')
    assert weights['weight_cond'] == 0.1


def test_regularizers_from_cfg_reads_built_loss_modules():
    loss = torch.nn.Module()
    loss.loss_weight = 0.5
    terms, weights = regularizers_from_cfg(dict(diversity=dict(patch_cos=loss)))
    assert terms == ['patch_cos'] and weights == {'patch_cos': 0.5}


def test_no_diversity_means_no_terms():
    assert regularizers_from_cfg(dict(type='ImageClassifier')) == ([], {})
    assert regularizers_from_cfg(None) == ([], {})
