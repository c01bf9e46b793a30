"""Token and granular views are real views (not the heatmap) and honour inseq 0.7's options."""

from __future__ import annotations

import io
import json
import re
from html.parser import HTMLParser

import pytest
from rich.console import Console
from viz_samples import attention_like, decoder_only, encoder_decoder, gen_tokens

import inseq
from inseq.data.attribution import FeatureAttributionOutput
from inseq.viz import show_attributions, show_granular_attributions, show_token_attributions


class Nodes(HTMLParser):
    """Collects token nodes (``<details class="tv-node">``), their summary text and ``<br/>`` positions."""

    def __init__(self) -> None:
        super().__init__()
        self.nodes: list[str] = []
        self.breaks_after: list[int] = []
        self.in_summary = False
        self.summary_styles: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "summary":
            self.in_summary = True
            self.nodes.append("")
            self.summary_styles.append(attrs.get("style") or "")

    def handle_startendtag(self, tag, attrs):
        if tag == "br" and self.nodes:
            self.breaks_after.append(len(self.nodes) - 1)

    def handle_endtag(self, tag):
        if tag == "summary":
            self.in_summary = False

    def handle_data(self, data):
        if self.in_summary:
            self.nodes[-1] += data


class Balanced(HTMLParser):
    """Checks that every opened tag is closed in order (void tags excepted)."""

    VOID = {"br", "input", "meta"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)


def assert_balanced(html: str) -> None:
    checker = Balanced()
    checker.feed(html)
    checker.close()
    assert checker.errors == [] and checker.stack == []


def parse(html: str) -> Nodes:
    parser = Nodes()
    parser.feed(html)
    return parser


def test_token_view_is_not_the_heatmap_and_lists_every_token() -> None:
    seq = encoder_decoder(6)
    html = show_token_attributions(seq, display=False, return_html=True)
    assert html != show_attributions(seq, display=False, return_html=True)
    assert "<table" not in html and "Generated text:" in html
    assert parse(html).nodes == gen_tokens(6)
    assert_balanced(html)
    # each node expands into the source and the target prefix of that token, with one highlight per token
    first = html.split('<details class="tv-node"')[1]
    assert 'Source attributions for "t000x"' in first and 'Target attributions for "t000x"' in first
    assert first.count('class="tv-tok"') == 4 + 1  # 4 source tokens + the <pad> prefix
    last = html.split('<details class="tv-node"')[-1]
    assert last.count('class="tv-tok"') == 4 + 6


def test_token_view_options() -> None:
    seq = decoder_only(6)
    plain = parse(show_token_attributions(seq, display=False, return_html=True))
    assert plain.breaks_after == [] and all(s == "" for s in plain.summary_styles)
    every_two = parse(show_token_attributions(seq, display=False, return_html=True, wrap_after=2))
    assert every_two.breaks_after == [1, 3, 5]
    by_token = parse(show_token_attributions(seq, display=False, return_html=True, wrap_after=["t001x", "t004x"]))
    assert by_token.breaks_after == [1, 4]
    assert parse(show_token_attributions(seq, display=False, return_html=True, wrap_after="t002x")).breaks_after == [2]
    highlighted = show_token_attributions(seq, display=False, return_html=True, step_score_highlight="probability")
    assert "Generated text with probability highlights:" in highlighted
    styles = parse(highlighted).summary_styles
    assert all("background:rgb(" in s for s in styles) and len(set(styles)) > 1
    replaced = show_token_attributions(seq, display=False, return_html=True, replace_char={"Ġ": "_", "t00": "T"})
    assert parse(replaced).nodes == [f"T{i}x" for i in range(6)] and "_cat" in replaced and "Ġ" not in replaced
    with pytest.raises(ValueError, match="available: probability"):
        show_token_attributions(seq, display=False, step_score_highlight="entropy")
    with pytest.raises(ValueError, match="positive"):
        show_token_attributions(seq, display=False, wrap_after=0)
    with pytest.raises(TypeError, match="wrap_after"):
        show_token_attributions(seq, display=False, wrap_after=[1, 2])


def test_token_view_console_version() -> None:
    console = Console(width=100, record=True, file=io.StringIO())
    show_token_attributions(encoder_decoder(4), console=console, step_score_highlight="probability", wrap_after=2)
    text = console.export_text()
    assert text.startswith("Generated text with probability highlights:")
    assert "t000xt001x\nt002xt003x" in text
    assert all(f"{i + 1} t00{i}x  source: s0 s1 s2 s3" in text for i in range(4))


def panel_data(html: str) -> list[dict]:
    return [json.loads(m) for m in re.findall(r'<script type="application/json" class="gv-data">(.*?)</script>', html)]


def test_granular_view_keeps_extra_dims() -> None:
    seq = attention_like(n=3, layers=2, heads=4)
    html = show_granular_attributions(seq, display=False, return_html=True)
    assert html != show_attributions(seq, display=False, return_html=True)
    # both extra dims fit max_show_size: the first (Model Layer) goes inside columns, the other gets a slider
    assert html.count('class="gv-slider"') == 1 and "Attention Head (0–3)" in html
    assert html.count('class="gv-cell') == 3 * 3 * 2
    assert_balanced(html)
    (data,) = panel_data(html)
    assert data["sliders"] == [4] and len(data["values"]) == 3 * 3 * 2 * 4
    raw = seq.source_attributions
    assert data["values"][0] == pytest.approx(raw[0, 0, 0, 0].item(), rel=1e-4)
    assert data["values"][1] == pytest.approx(raw[0, 0, 0, 1].item(), rel=1e-4)  # next head of the same cell


def test_granular_view_options() -> None:
    seq = attention_like(n=3, layers=2, heads=4)
    heads = show_granular_attributions(seq, display=False, return_html=True, show_dim="Attention Head")
    assert "Model Layer (0–1)" in heads and heads.count('class="gv-cell') == 3 * 3 * 4
    small = show_granular_attributions(seq, display=False, return_html=True, max_show_size=1)
    assert small.count('class="gv-slider"') == 2 and small.count('class="gv-cell') == 3 * 3
    sliced = show_granular_attributions(
        seq, display=False, return_html=True, slice_dims={"Attention Head": (1, 3), 0: (0, 2)}
    )
    (data,) = panel_data(sliced)
    assert data["sliders"] == [2] and data["starts"] == [1] and sliced.count('class="gv-cell') == 2 * 3 * 2
    assert data["values"][0] == pytest.approx(seq.source_attributions[0, 0, 0, 1].item(), rel=1e-4)
    with pytest.raises(ValueError, match="valid dimensions"):
        show_granular_attributions(seq, display=False, show_dim="Embedding Dimension")
    with pytest.raises(ValueError, match="extra dimension"):
        show_granular_attributions(seq, display=False, show_dim=1)
    with pytest.raises(ValueError, match="outside"):
        show_granular_attributions(seq, display=False, slice_dims={3: (2, 9)})
    with pytest.raises(NotImplementedError, match="return_html"):
        show_granular_attributions(seq, return_figure=True)


def test_granular_console_and_data_methods() -> None:
    seq = attention_like()
    console = Console(width=120, record=True, file=io.StringIO())
    show_granular_attributions(seq, console=console)
    text = console.export_text()
    assert "Attention Head 0 (of 0–3)" in text and "1.0" in text and "1.1" in text and "Only the first slice" in text
    out = FeatureAttributionOutput([seq], info={"model_name": "toy", "attribution_method": "attention"})
    html = out.show_granular(display=False, return_html=True, show_dim=3)
    assert "<b>Model:</b> toy" in html and html.count('class="gv-cell') == 3 * 3 * 4
    # show() of a result that stays N-D (no aggregation) falls back to the granular view, as in inseq 0.7
    assert 'class="gv-panel"' in out.show(display=False, return_html=True, do_aggregation=False)
    tokens = out.show_tokens(display=False, return_html=True, wrap_after=1)
    assert parse(tokens).breaks_after == [0, 1, 2]


def test_views_of_a_real_model(toy_output) -> None:
    tokens = toy_output.show_tokens(
        display=False, return_html=True, replace_char={"Ġ": " "}, step_score_highlight="probability"
    )
    generated = [t.token.replace("Ġ", " ") for t in toy_output[0].generated_tokens]
    assert parse(tokens).nodes == generated
    assert "<b>Method:</b> saliency" in tokens
    granular = toy_output.show_granular(display=False, return_html=True, slice_dims={"Embedding Dimension": (0, 16)})
    (data,) = panel_data(granular)
    assert data["sliders"] == [] and granular.count('class="gv-cell') == 17 * 3 * 16
    hidden = toy_output[0].target_attributions.shape[-1]
    full = show_granular_attributions(toy_output, display=False, return_html=True)
    assert panel_data(full)[0]["sliders"] == [hidden]  # larger than max_show_size: a slider
    assert inseq.show_token_attributions is show_token_attributions
