"""Matplotlib figures, saved plots, the short text repr and the notebook HTML repr."""

from __future__ import annotations

import pytest
from matplotlib.figure import Figure
from viz_samples import attention_like, decoder_only, encoder_decoder, gen_tokens

from inseq.data.attribution import FeatureAttributionOutput
from inseq.viz import save_plots


def tick_labels(ax) -> list[str]:
    return [t.get_text() for t in ax.get_xticklabels()]


def test_plot_returns_a_figure_with_heatmaps_colour_bar_and_step_strips() -> None:
    seq = encoder_decoder(5)
    seq.target[2] = type(seq.target[2])("a → b", -1)  # contrastive label
    fig = seq.plot()
    assert isinstance(fig, Figure)
    labels = [ax.get_label() for ax in fig.axes]
    assert "<colorbar>" in labels
    plots = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(plots) == 4  # source, target, probability strip, entropy strip
    assert [ax.get_ylabel() for ax in plots[:2]] == ["Source", "Target"]
    assert [ax.get_yticklabels()[0].get_text() for ax in plots[2:]] == ["probability", "entropy"]
    assert tick_labels(plots[-1]) == ["t000x", "a → b", "t002x", "t003x", "t004x"]
    assert len(plots[0].texts) == 4 * 5  # values written in the small heatmap


def test_figure_grows_with_length_and_keeps_labels_readable() -> None:
    small, large = decoder_only(5).plot(), decoder_only(200).plot()
    assert large.get_size_inches()[0] > 2 * small.get_size_inches()[0]
    assert max(large.get_size_inches()) <= 70
    axes = [ax for ax in large.axes if ax.get_label() != "<colorbar>"]
    shown = tick_labels(axes[-1])
    assert 20 <= len(shown) <= 200 and set(shown) <= set(gen_tokens(200))
    assert min(t.get_fontsize() for t in axes[-1].get_xticklabels()) >= 5
    assert len(axes[0].texts) == 0  # no unreadable cell annotations


def test_save_plots_writes_each_sequence(tmp_path) -> None:
    out = FeatureAttributionOutput([decoder_only(3), encoder_decoder(4), attention_like()])
    paths = out.save_plots(tmp_path / "figs", fmt="svg")
    assert [p.name for p in paths] == ["sequence_0.svg", "sequence_1.svg", "sequence_2.svg"]
    assert all(p.read_text(encoding="utf-8").lstrip().startswith("<?xml") for p in paths)
    png = save_plots(out[:1], tmp_path, fmt="png", prefix="p")
    assert png[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert save_plots(out[1:2], tmp_path, fmt="pdf")[0].read_bytes()[:4] == b"%PDF"
    with pytest.raises(ValueError, match="png, svg, pdf"):
        out.save_plots(tmp_path, fmt="gif")
    assert isinstance(out.show(display=False, return_figure=True)[0], Figure)


def test_short_repr() -> None:
    out = FeatureAttributionOutput(
        [attention_like(), decoder_only(50)], info={"model_name": "toy", "attribution_method": "attention"}
    )
    text = repr(out)
    assert len(text) < 600 and "tensor(" not in text
    assert text.startswith("FeatureAttributionOutput(2 sequences, model_name='toy', attribution_method='attention'")
    assert "source_attributions=[3, 3, 2, 4] float32" in text and "53 target tokens" in text
    assert repr(decoder_only(2)) == (
        "CoarseFeatureAttributionSequenceOutput(3 source tokens, 5 target tokens, 2 attributed steps (3..5), "
        "target_attributions=[5, 2] float32, step_scores=['probability'])"
    )
    assert str(out) == text


def test_repr_html_has_metadata_legend_and_texts() -> None:
    info = {
        "model_name": "toy",
        "attribution_method": "saliency",
        "attributed_fn": "probability",
        "input_texts": ["The cat sat"],
        "generated_texts": ["The cat sat t000x t001x"],
    }
    seq = decoder_only(2)
    seq.target[4] = type(seq.target[4])("<b> → t001x", -1)  # contrastive label, with markup to escape
    out = FeatureAttributionOutput([seq], info=info)
    html = out._repr_html_()
    assert "<th>&lt;b&gt; → t001x</th>" in html
    for expected in ("<b>Model:</b> toy", "<b>Method:</b> saliency", "<b>Attributed function:</b> probability"):
        assert expected in html
    assert 'class="inseq-legend"' in html and "linear-gradient" in html
    assert "<b>Generated text:</b> <span style='white-space:pre-wrap'>The cat sat t000x t001x</span>" in html
    assert "Target Saliency Heatmap" in out[0]._repr_html_()
