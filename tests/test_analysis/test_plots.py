"""mmdiverse.analysis.plots: what plot_redundancy draws."""

import math

import matplotlib.pyplot as plt
import pytest

from mmdiverse.analysis import plot_redundancy


def report(patch, heads=None, conditions=None):
    return dict(
        patch_similarity=patch, head_similarity=heads or {}, condition_number=conditions or {}
    )


@pytest.fixture
def drawn(monkeypatch):
    """The figures plot_redundancy closes, kept for inspection."""
    figures, close = [], plt.close
    monkeypatch.setattr(plt, 'close', figures.append)
    yield figures
    for fig in figures:
        close(fig)


def test_one_panel_without_heads_or_weights(tmp_path, drawn):
    out = plot_redundancy(
        {'a': report({'layers.0': 0.5, 'layers.1': 0.7})}, str(tmp_path / 'r.png')
    )
    assert open(out, 'rb').read(8) == b'\x89PNG\r\n\x1a\n'
    (axes,) = drawn[0].axes
    assert axes.get_title() == 'patch cosine similarity'
    (line,) = axes.get_lines()
    assert list(line.get_ydata()) == [0.5, 0.7]


def test_condition_numbers_are_averaged_geometrically(tmp_path, drawn):
    reports = {
        'baseline': report(
            {'layers.0': 0.9}, {'layers.0': 0.8}, {'layers.0': dict(q=1.0, k=100.0, v=1e4)}
        ),
        'diverse': report(
            {'layers.0': 0.2}, {'layers.0': 0.3}, {'layers.0': dict(q=10.0, k=10.0, v=10.0)}
        ),
    }
    plot_redundancy(reports, str(tmp_path / 'r.png'))
    patch, heads, conditions = drawn[0].axes
    assert heads.get_title() == 'attention-head similarity'
    assert conditions.get_yscale() == 'log'
    means = [line.get_ydata()[0] for line in conditions.get_lines()]
    # (1 * 100 * 1e4) ** (1/3) = 100, not the arithmetic mean 3367
    assert means == [pytest.approx(100.0), pytest.approx(10.0)]
    assert [t.get_text() for t in patch.get_legend().get_texts()] == ['baseline', 'diverse']
    assert math.isclose(patch.get_lines()[1].get_ydata()[0], 0.2)
