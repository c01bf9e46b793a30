"""The source attribution view: the HTML a person sees (rendered in headless Chromium) and the console rendering."""

from __future__ import annotations

import html
import io
import re

import numpy as np
import pytest
from rich.console import Console

from inseq.sources import SourceAttributionOutput
from inseq.viz import html_page
from inseq.viz.browser import dump_dom, screenshot
from inseq.viz.sources import sources_console, sources_html


def _output(messages=None) -> SourceAttributionOutput:
    if messages:
        contents = [m["content"] for m in messages]
        return SourceAttributionOutput(
            context="\n".join(contents), sources=contents, source_spans=[(0, len(c)) for c in contents],
            source_parts=list(range(len(contents))), response="Blue.", response_spans=[(0, 5)],
            scores=np.array([0.1, 2.0, -0.5]), method="leave_one_out", info={"messages": messages},
        )  # fmt: skip
    context = "The sky is blue. Grass is green. Snow <is> white."
    spans = [(0, 16), (17, 32), (33, 49)]
    return SourceAttributionOutput(
        context=context, sources=[context[a:b] for a, b in spans], source_spans=spans, response=" blue",
        response_spans=[(0, 5)], scores=np.array([3.0, -1.0, 0.2]), method="ablation",
    )  # fmt: skip


def test_html_colours_every_source_and_escapes_text():
    page = sources_html(_output())
    assert page.count('class="s"') == 3
    assert "Snow &lt;is&gt; white." in page and "<is>" not in page
    assert 'title="score 3.0000 (rank 1)"' in page and 'title="score -1.0000 (rank 3)"' in page
    red = re.search(r"background:rgb\((\d+), (\d+), (\d+)\)[^>]*>The sky", page).groups()
    blue = re.search(r"background:rgb\((\d+), (\d+), (\d+)\)[^>]*>Grass", page).groups()
    assert int(red[0]) > int(red[2]) and int(blue[2]) > int(blue[0])  # positive red, negative blue


def test_chat_input_is_shown_one_message_per_line():
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Sky colour?"},
                {"role": "assistant", "content": "Blue?"}]  # fmt: skip
    page = sources_html(_output(messages))
    assert page.count('class="role"') == 3 and "user:" in page
    buffer = io.StringIO()
    sources_console(_output(messages), console=Console(file=buffer, width=80))
    assert "system: Be brief." in buffer.getvalue() and "1. +2.0000  Sky colour?" in buffer.getvalue()


@pytest.mark.browser
def test_view_renders_in_a_browser(tmp_path):
    from PIL import Image

    page = html_page(sources_html(_output()))
    dom = dump_dom(page)
    text = re.sub(r"<[^>]+>", " ", re.sub(r"<style[^>]*>.*?</style>", "", dom, flags=re.S))
    for piece in ("The sky is blue.", "Grass is green.", "Response:", "rank"):
        assert piece in html.unescape(text)
    shot = screenshot(page, tmp_path / "sources.png", width=700, height=300)
    image = Image.open(shot).convert("RGB")
    pixels = list(image.resize((175, 75)).getdata())
    reds = sum(1 for r, g, b in pixels if r > 150 and g < 90 and b < 90)
    assert reds > 20, "the top source is not drawn in red"
