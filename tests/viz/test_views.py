from html.parser import HTMLParser

import pytest
import torch
from rich.console import Console

from inseq.data.attribution import (
    CoarseFeatureAttributionSequenceOutput,
    FeatureAttributionOutput,
    GranularFeatureAttributionSequenceOutput,
)
from inseq.utils.typing import TokenWithId
from inseq.viz import show_attributions, show_granular_attributions, show_token_attributions
from inseq.viz.heatmap import ordinal, red_transparent_blue

VOID = {"br"}


def make_seq(granular=False):
    tokens = [TokenWithId(t, i) for i, t in enumerate(["Hello", "<script>", "Ġworld", "Ġ!"])]
    scores = torch.tensor([[0.1, -0.3], [0.6, 0.2], [float("nan"), 0.4], [float("nan"), float("nan")]])
    cls = GranularFeatureAttributionSequenceOutput if granular else CoarseFeatureAttributionSequenceOutput
    return cls(
        source=tokens[:2],
        target=tokens,
        target_attributions=scores.unsqueeze(-1).repeat(1, 1, 3) if granular else scores,
        step_scores={"probability": torch.tensor([0.75, 0.25])},
        attr_pos_start=2,
        attr_pos_end=4,
    )


class TagChecker(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.errors, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "script":
            self.errors.append("raw <script> tag")

    def handle_startendtag(self, tag, attrs):
        """Self-closing tags such as <br/> need no end tag."""

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(f"unbalanced </{tag}>")

    def handle_data(self, data):
        self.text.append(data)


def test_console_view_shows_tokens_and_scores():
    console = Console(record=True, width=120)
    show_attributions(make_seq(), console=console)
    text = console.export_text()
    assert "Target Saliency Heatmap" in text and "Source Saliency Heatmap" not in text
    for expected in ("Hello", "<script>", "Ġworld", "0.60", "-0.30", "probability", "0.75", "→ : Generated tokens"):
        assert expected in text


def test_html_is_well_formed_and_escaped():
    html = show_attributions([make_seq(), make_seq()], display=False, return_html=True)
    checker = TagChecker()
    checker.feed(html)
    checker.close()
    assert checker.errors == [] and checker.stack == []
    assert "&lt;script&gt;" in html and "<script>" not in html
    text = "".join(checker.text)
    assert "0th instance:" in text and "1st instance:" in text and "0.600" in text
    assert html.count("<table") == 2


def test_return_html_without_display_prints_nothing(capsys):
    assert show_attributions(make_seq(), display=False) is None
    assert capsys.readouterr().out == ""


def test_output_level_show_and_fallbacks():
    out = FeatureAttributionOutput([make_seq(granular=True)])
    html = out.show(display=False, return_html=True)
    assert "Target Saliency Heatmap" in html
    assert show_granular_attributions(make_seq(granular=True), display=False, return_html=True).count("<table") == 1
    replaced = show_token_attributions(make_seq(), display=False, return_html=True, replace_char={"Ġ": " "})
    assert "Ġ" not in replaced
    with pytest.raises(NotImplementedError, match="treescope"):
        show_token_attributions(make_seq(), return_figure=True)
    with pytest.raises(TypeError, match="FeatureAttributionSequenceOutput"):
        show_attributions("nope")


def test_colour_helpers():
    assert red_transparent_blue(-1.0, -1.0, 1.0) == "rgba(33, 102, 172, 1.0)"
    assert red_transparent_blue(0.0, -1.0, 1.0).endswith(", 0.0)")
    assert [ordinal(i) for i in (0, 1, 2, 3, 4, 11, 12, 13, 21)] == [
        "0th", "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st"
    ]  # fmt: skip
