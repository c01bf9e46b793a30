"""The HTML views rendered in headless Chromium: what a person sees, and the interactive parts working.

Marked ``browser``: skipped when no Chromium is installed, a failure under ``CI=true`` (``.ci/run`` installs Debian's
``chromium`` package).
"""

from __future__ import annotations

import html
import json
import re

import pytest
from PIL import Image
from viz_samples import attention_like, decoder_only, encoder_decoder, gen_tokens

from inseq.data.attribution import FeatureAttributionOutput
from inseq.viz import html_page
from inseq.viz.browser import dump_dom, screenshot

pytestmark = pytest.mark.browser

REPORT = "document.body.setAttribute('data-report', JSON.stringify(%s));"


def report(dom: str) -> dict:
    match = re.search(r'data-report="([^"]*)"', dom)
    assert match, "the test script did not run"
    return json.loads(html.unescape(match.group(1)))


def visible_text(dom: str) -> str:
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", "", dom, flags=re.S)
    return re.sub(r"<[^>]+>", " ", body)


def assert_not_blank(path, min_colours: int = 8) -> None:
    image = Image.open(path).convert("RGB")
    small = image.resize((image.width // 4, image.height // 4))
    pixels = list(small.getdata())
    non_white = sum(1 for p in pixels if sum(p) < 720)
    assert non_white > 0.01 * len(pixels)
    assert len(set(pixels)) >= min_colours


@pytest.fixture(scope="module")
def output() -> FeatureAttributionOutput:
    info = {"model_name": "toy-model", "attribution_method": "saliency", "attributed_fn": "probability"}
    return FeatureAttributionOutput([encoder_decoder(8), decoder_only(5, seed=1)], info=info)


def test_heatmap_report_renders(output, tmp_path) -> None:
    page = html_page(output.show(display=False, return_html=True))
    text = visible_text(dump_dom(page))
    assert all(tok in text for tok in gen_tokens(8)) and "toy-model" in text and "0th instance:" in text
    shot = screenshot(page, tmp_path / "heatmap.png", width=1000, height=700)
    assert_not_blank(shot)


def test_token_view_expands_on_click(output, tmp_path) -> None:
    page = html_page(output.show_tokens(display=False, return_html=True, step_score_highlight="probability"))
    script = REPORT % (
        "(function(){var n=document.querySelector('details.tv-node'), e=n.querySelector('.tv-exp');"
        "var before=[n.getBoundingClientRect().height, e.checkVisibility()]; n.querySelector('summary').click();"
        "var after=[n.getBoundingClientRect().height, e.checkVisibility()];"
        "var toks=Array.from(n.querySelectorAll('.tv-tok')).map(function(t){return t.textContent;});"
        "return {before: before, after: after, open: n.open, toks: toks,"
        " nodes: document.querySelectorAll('details.tv-node').length};})()"
    )
    dom = dump_dom(page, script)
    result = report(dom)
    (closed_h, closed_visible), (open_h, open_visible) = result["before"], result["after"]
    assert (closed_visible, open_visible, result["open"]) == (False, True, True)
    assert open_h > closed_h + 20  # the expansion (two captions and two lines of tokens) takes room
    assert result["toks"] == ["s0", "s1", "s2", "s3", "<pad>"] and result["nodes"] == 8 + 5
    assert all(tok in visible_text(dom) for tok in gen_tokens(8))
    closed = screenshot(page, tmp_path / "closed.png", width=800, height=300)
    opened = screenshot(
        page,
        tmp_path / "open.png",
        width=800,
        height=300,
        script="document.querySelector('details.tv-node summary').click();",
    )
    assert_not_blank(closed, min_colours=4)
    assert list(Image.open(closed).getdata()) != list(Image.open(opened).getdata())


def test_granular_slider_recolours_cells(tmp_path) -> None:
    page = html_page(FeatureAttributionOutput([attention_like()]).show_granular(display=False, return_html=True))
    script = REPORT % (
        "(function(){var c=document.querySelectorAll('td.gv-cell'), s=document.querySelector('input.gv-slider');"
        "var before=Array.from(c).map(function(x){return x.style.background;});"
        "s.value=3; s.dispatchEvent(new Event('input'));"
        "var after=Array.from(c).map(function(x){return x.style.background;});"
        "return {cells: c.length, changed: before.filter(function(b,i){return b!==after[i];}).length,"
        " label: s.nextElementSibling.textContent, title: c[0].title};})()"
    )
    result = report(dump_dom(page, script))
    assert result["cells"] == 3 * 3 * 2 and result["changed"] >= 10 and result["label"] == "3"
    assert float(result["title"]) == pytest.approx(attention_like().source_attributions[0, 0, 0, 3].item(), rel=1e-3)
    assert_not_blank(screenshot(page, tmp_path / "granular.png", width=700, height=400))
