"""DiverseSimMIM (mmdiverse/models/selfsup/simmim.py): the label-free terms on
the last Swin stage, masked positions included by default or left out."""

import pytest
import torch
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmdiverse  # noqa: F401
from mmdiverse.models.losses import PatchCosineLoss
from mmdiverse.models.selfsup import visible_token_index
from tests.helpers.tiny_selfsup import LABEL_FREE_TERMS, tiny_simmim_cfg


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


def batch(n=2, seed=0):
    """Inputs and SimMIM masks on the 8x8 patch grid, covering whole 8 px cells
    of the 4x4 last grid (6 of 16 cells masked in every image)."""
    gen = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(n):
        cells = torch.zeros(16)
        cells[torch.randperm(16, generator=gen)[:6]] = 1
        mask = cells.view(4, 4).repeat_interleave(2, 0).repeat_interleave(2, 1)
        sample = DataSample()
        sample.set_field(mask, 'mask')
        samples.append(sample)
    return torch.rand(n, 3, 32, 32, generator=gen), samples


def test_terms_read_every_last_stage_token_by_default():
    torch.manual_seed(0)
    model = MODELS.build(tiny_simmim_cfg(dict(LABEL_FREE_TERMS)))
    assert model.masked_positions == 'include'
    inputs, samples = batch()
    losses = model.loss(inputs, samples)
    assert set(losses) == {
        'loss_rec',
        'loss_patch_cos',
        'loss_patch_contrast',
        'loss_attn_div',
        'loss_weight_cond',
        'patch_cos_sim',
    }
    mask = torch.stack([s.mask for s in samples])
    last = model.backbone(inputs, mask)[0].flatten(2).transpose(1, 2)  # (B, 16, 32) after norm1
    torch.testing.assert_close(losses['loss_patch_cos'], PatchCosineLoss()(last))
    stock = MODELS.build(tiny_simmim_cfg(model_type='SimMIM'))
    stock.load_state_dict(model.state_dict(), strict=False)
    torch.testing.assert_close(losses['loss_rec'], stock.loss(inputs, samples)['loss'])


def test_excluded_masked_positions_leave_only_the_visible_cells():
    torch.manual_seed(0)
    model = MODELS.build(tiny_simmim_cfg(dict(LABEL_FREE_TERMS, masked_positions='exclude')))
    inputs, samples = batch()
    losses = model.loss(inputs, samples)
    mask = torch.stack([s.mask for s in samples])
    last = model.backbone(inputs, mask)[0].flatten(2).transpose(1, 2)
    visible = mask[:, ::2, ::2].flatten(1) == 0  # (B, 16) cells
    kept = torch.stack([last[b, visible[b]] for b in range(2)])  # (B, 10, 32)
    assert kept.shape == (2, 10, 32)
    torch.testing.assert_close(losses['loss_patch_cos'], PatchCosineLoss()(kept))
    assert torch.isfinite(losses['loss_patch_contrast'])


def test_visible_token_index_checks_the_mask():
    mask = torch.zeros(2, 8, 8)
    mask[0, :2, :2] = 1  # cell 0 of image 0 masked
    with pytest.raises(ValueError, match='15 to 16 visible'):
        visible_token_index(mask, (4, 4))
    with pytest.raises(ValueError, match='does not divide'):
        visible_token_index(mask, (3, 3))
    mask[1, 6:, 6:] = 1  # cell 15 of image 1 masked
    index = visible_token_index(mask, (4, 4))
    assert index.shape == (2, 15)
    assert index[0].tolist() == list(range(1, 16)) and index[1].tolist() == list(range(15))


@pytest.mark.parametrize(
    'diversity,match',
    [
        (dict(patch_mix=dict(type='PatchMixingLoss')), r'model\.diversity\.patch_mix'),
        (dict(LABEL_FREE_TERMS, masked_positions='visible'), r'model\.diversity\.masked_positions'),
    ],
)
def test_build_time_refusals_name_the_key(diversity, match):
    with pytest.raises(ValueError, match=match):
        MODELS.build(tiny_simmim_cfg(diversity))
