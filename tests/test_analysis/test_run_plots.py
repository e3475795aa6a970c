"""mmdiverse.analysis.run_plots: what compare.png draws."""

import matplotlib.pyplot as plt
import pytest

from mmdiverse.analysis.run_groups import RunGroup
from mmdiverse.analysis.run_plots import plot_comparison
from mmdiverse.analysis.run_scalars import RunScalars


@pytest.fixture
def drawn(monkeypatch):
    """The figures plot_comparison closes, kept for inspection."""
    figures, close = [], plt.close
    monkeypatch.setattr(plt, 'close', figures.append)
    yield figures
    for fig in figures:
        close(fig)


def fake_run(offset):
    train = [dict(lr=1.0, loss=2.0 - i + offset, loss_cls=1.0 + offset, step=i) for i in (1, 2)]
    val = [{'accuracy/top1': 10.0 * i + offset, 'step': i} for i in (1, 2)]
    return RunScalars('w', train, val, {}, '')


def report(patch):
    return dict(
        patch_similarity={f'layers.{i}': v for i, v in enumerate(patch)},
        head_similarity={},
        condition_number={
            'layers.0': dict(q=2.0, k=8.0, v=4.0),
            'layers.1': dict(q=1.0, k=1.0, v=1.0),
        },
    )


def test_one_panel_per_metric_and_loss_one_colour_per_group(tmp_path, drawn):
    groups = [
        RunGroup('base', [fake_run(0.0), fake_run(1.0)], [0, 1]),
        RunGroup('div', [fake_run(5.0)], [0]),
    ]
    out = plot_comparison(groups, str(tmp_path / 'c.png'))
    assert open(out, 'rb').read(8) == b'\x89PNG\r\n\x1a\n'
    axes = [ax for ax in drawn[0].axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ['accuracy/top1', 'loss', 'loss_cls']
    top1 = axes[0]
    base, div = top1.lines
    assert list(base.get_ydata()) == [10.5, 20.5]  # the mean over the two seeds
    assert list(div.get_ydata()) == [15.0, 25.0]
    assert base.get_color() != div.get_color()
    assert len(top1.collections) == 1  # the band over seeds; none for one seed
    assert base.get_label() == 'base (n=2)'


def test_redundancy_panels(tmp_path, drawn):
    groups = [RunGroup('base', [fake_run(0.0)], [0])]
    plot_comparison(
        groups,
        str(tmp_path / 'c.png'),
        redundancy={'base': [report([0.5, 0.7]), report([0.3, 0.5])]},
    )
    axes = {ax.get_title(): ax for ax in drawn[0].axes if ax.get_visible()}
    # head similarity was not measured: no panel for it
    assert 'attention-head similarity per block' not in axes
    patch = axes['patch cosine similarity per block'].lines[0]
    assert list(patch.get_ydata()) == pytest.approx([0.4, 0.6])
    cond = axes['q/k/v condition number per block']
    assert list(cond.lines[0].get_ydata()) == pytest.approx([4.0, 1.0])  # geometric means
    assert cond.get_yscale() == 'log'


def test_a_single_validation_gets_a_range_bar_and_one_legend_entry_per_group(tmp_path, drawn):
    def one_val(top1):
        return RunScalars(
            'w', [dict(lr=1.0, loss=1.0, step=1)], [{'mIoU': top1, 'step': 4}], {}, ''
        )

    groups = [RunGroup('seg', [one_val(10.0), one_val(14.0)], [0, 1])]
    plot_comparison(groups, str(tmp_path / 'c.png'))
    miou = drawn[0].axes[0]
    assert miou.get_title() == 'mIoU' and len(miou.containers) == 1  # the min-max bar
    (legend,) = drawn[0].legends
    assert [t.get_text() for t in legend.get_texts()] == ['seg (n=2)']
