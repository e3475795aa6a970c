"""The term table: one list of terms, their loss keys and what each reads."""

import dataclasses

import pytest
import torch

from mmdiverse.models.diversity import terms
from mmdiverse.models.diversity.terms import (
    DIAG_KEY,
    SEGMENTATION_TERMS,
    TERM_TABLE,
    TERMS,
    TermInputs,
    loss_key,
)


def test_one_ordered_list_with_loss_keys():
    assert TERMS == ('patch_cos', 'patch_contrast', 'patch_mix', 'attn_div', 'weight_cond')
    assert [loss_key(t) for t in TERMS] == [f'loss_{t}' for t in TERMS]
    assert SEGMENTATION_TERMS == tuple(t for t in TERMS if t != 'patch_mix')
    assert 'loss' not in DIAG_KEY  # logged, not summed into the total by mmengine


def test_old_import_names_are_the_table():
    from mmdiverse.models import classifiers, segmentors

    assert classifiers.TERMS is TERMS and classifiers.DIAG_KEY is DIAG_KEY
    from mmdiverse.models.segmentors import diverse_encoder_decoder

    assert diverse_encoder_decoder.SEGMENTATION_TERMS is SEGMENTATION_TERMS
    assert classifiers.DiversityRegularizer.__module__ == 'mmdiverse.models.diversity.regularizer'
    assert segmentors.DiverseEncoderDecoder  # the package still exports it


class Recorder(torch.nn.Module):
    """A loss that returns the sum of its tensor arguments and records them."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, *args):
        self.calls.append(args)
        return sum(a.sum() for a in args if torch.is_tensor(a)) + sum(
            w.sum() for a in args if isinstance(a, list) for w in a
        )


def filled_inputs():
    gen = torch.Generator().manual_seed(0)
    return TermInputs(
        tokens=torch.rand(2, 4, 3, generator=gen),
        tokens_hw=(2, 2),
        first=torch.rand(2, 4, 3, generator=gen),
        first_hw=(2, 2),
        attention=(torch.rand(2, 2, 5, 5, generator=gen), torch.rand(2, 2, 5, 5, generator=gen)),
        qkv_weights=[torch.rand(3, 3, generator=gen) for _ in range(3)],
        patch_logits=torch.rand(2, 4, 6, generator=gen),
        patch_targets=torch.rand(2, 4, 6, generator=gen),
    )


@pytest.mark.parametrize('term', TERM_TABLE, ids=lambda t: t.name)
def test_each_term_reads_exactly_its_fields(term):
    fields = {f.name for f in dataclasses.fields(TermInputs)}
    assert set(term.reads) <= fields
    inputs = filled_inputs()
    loss = Recorder()
    term.evaluate(loss, inputs)
    passed = [a for call in loss.calls for a in call]
    read = [getattr(inputs, f) for f in term.reads]
    if term.name == 'attn_div':  # one call per captured block
        read = list(inputs.attention)
    assert len(passed) == len(read)
    for got, want in zip(passed, read):
        assert got is want


def test_attention_term_is_the_mean_over_blocks():
    inputs = filled_inputs()
    value = terms.TERMS_BY_NAME['attn_div'].evaluate(Recorder(), inputs)
    expected = (inputs.attention[0].sum() + inputs.attention[1].sum()) / 2
    torch.testing.assert_close(value, expected)
