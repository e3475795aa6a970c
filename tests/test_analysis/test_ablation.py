import math

import pytest

from mmdiverse.analysis.ablation import ablation_table, own_measures, relative_change

REPORT = dict(
    patch_similarity={'layers.0': 0.4, 'layers.1': 0.5, 'layers.2': 0.8},
    head_similarity={'layers.0': 0.2, 'layers.1': 0.6, 'layers.2': 0.9},
    condition_number={
        'layers.0': dict(q=10.0, k=1000.0, v=100.0),
        'layers.1': dict(q=100.0, k=100.0, v=100.0),
        'layers.2': dict(q=100.0, k=100.0, v=100.0),
    },
)


def test_own_measures_reads_the_blocks_each_term_targets():
    measures = own_measures(REPORT)
    assert measures['patch_similarity'] == 0.8  # the last block's tokens
    assert measures['head_similarity'] == 0.2  # block 0, the regularized one
    # geometric mean over all nine matrices: 10 * 1000 cancels to 100 * 100
    assert measures['condition_number'] == pytest.approx(100.0)
    assert own_measures(REPORT, attn_blocks=(0, 2))['head_similarity'] == pytest.approx(0.55)


def test_own_measures_of_a_report_without_attention_or_weights():
    measures = own_measures(
        dict(patch_similarity={'a': 0.3}, head_similarity={}, condition_number={})
    )
    assert measures['patch_similarity'] == 0.3
    assert math.isnan(measures['head_similarity']) and math.isnan(measures['condition_number'])


def test_unmeasured_attention_block_is_refused():
    with pytest.raises(ValueError, match=r'attn_blocks \[5\]'):
        own_measures(REPORT, attn_blocks=(5,))


def test_table_compares_each_term_on_its_own_measure():
    baseline = dict(patch_similarity=0.8, head_similarity=0.9, condition_number=300.0)
    rows = [
        dict(
            term='attn_div',
            weight=1.0,
            gradient_share=0.25,
            measures=dict(baseline, head_similarity=0.45, patch_similarity=0.9),
        ),
        dict(term='weight_cond', weight=5e-4, measures=dict(baseline, condition_number=330.0)),
    ]
    table = ablation_table(rows, baseline, seed=7)
    lines = table.splitlines()
    assert lines[2].startswith('| baseline (no term) | - | - | 0.8 | 0.9 | 300 |')
    # attn_div: its own measure (head similarity) halved; patch similarity rose but
    # is not its measure
    assert lines[3] == '| `attn_div` alone | 1 | 0.25 | 0.9 | **0.45** | 300 | -50.0% | yes |'
    assert lines[4] == '| `weight_cond` alone | 0.0005 | - | 0.8 | 0.9 | **330** | +10.0% | no |'
    assert 'Seed 7' in table
    assert relative_change(0.45, 0.9) == pytest.approx(-0.5)
