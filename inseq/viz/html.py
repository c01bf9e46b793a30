"""HTML heatmaps (returned with ``return_html=True`` and displayed in notebooks); every token is HTML-escaped.

The report keeps inseq 0.7's per-instance layout and adds a metadata header (model, method, attributed function,
input and generated text when known) and a colour legend for the shared scale.

Example:
    >>> "<table" in render_html([[HeatmapTable("Source Saliency Heatmap", ["a"], [(0, "b")], [[0.5]])]], -1, 1)
    True
"""

from __future__ import annotations

import random
import string
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from .heatmap import HeatmapTable, display_token, is_nan, ordinal, red_transparent_blue

__all__ = ["html_page", "html_table", "legend_html", "metadata_html", "render_html", "uid"]

_TABLE_OPEN = '<table border="1" cellpadding="5" cellspacing="5" style="overflow-x:scroll;display:block;">'
_META_FIELDS = (
    ("model_name", "Model"),
    ("attribution_method", "Method"),
    ("attributed_fn", "Attributed function"),
    ("step_scores", "Step scores"),
)


def uid() -> str:
    """Random 20-letter id used to scope element ids of one rendering."""
    return "".join(random.choices(string.ascii_lowercase, k=20))


def _fmt_meta(value: Any) -> str:
    if isinstance(value, str) and value.startswith(("/", "./", "~")):  # a local model folder: show its name
        return value.rstrip("/").rsplit("/", 1)[-1]
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "none"
    return str(value)


def metadata_html(info: Mapping[str, Any] | None) -> str:
    """A small header naming the model, method, attributed function and step scores (empty without info)."""
    items = [(label, info[key]) for key, label in _META_FIELDS if info and info.get(key) not in (None, "")]
    if not items:
        return ""
    body = " · ".join(f"<b>{escape(label)}:</b> {escape(_fmt_meta(value))}" for label, value in items)
    return f'<div class="inseq-meta" style="font-family:sans-serif;margin:5px 0;">{body}</div>'


def legend_html(
    min_val: float, max_val: float, colors: Sequence[str] | None = None, label: str = "Attribution"
) -> str:
    """A horizontal colour bar from ``min_val`` to ``max_val`` (default: the heatmap's red-transparent-blue map)."""
    stops = colors or [
        red_transparent_blue(min_val, min_val, max_val),
        red_transparent_blue((min_val + max_val) / 2, min_val, max_val),
        red_transparent_blue(max_val, min_val, max_val),
    ]
    gradient = ", ".join(stops)
    mid = (min_val + max_val) / 2
    return (
        '<div class="inseq-legend" style="font-family:sans-serif;font-size:12px;margin:5px 0;">'
        f"<span>{escape(label)}:</span> "
        f'<span style="display:inline-block;vertical-align:middle;text-align:right;width:3.5em;">{min_val:.3g}</span>'
        '<span style="display:inline-block;vertical-align:middle;width:200px;height:12px;margin:0 4px;'
        f'border:1px solid #999;background:linear-gradient(to right, {gradient});"></span>'
        f'<span style="vertical-align:middle;">{max_val:.3g}</span>'
        f'<span style="vertical-align:middle;color:#666;"> (centre {mid:.3g})</span></div>'
    )


def _texts_html(texts: Mapping[str, str] | None) -> str:
    if not texts:
        return ""
    lines = "".join(
        f"<b>{escape(k)}:</b> <span style='white-space:pre-wrap'>{escape(v)}</span><br/>" for k, v in texts.items()
    )
    return f'<div class="inseq-texts" style="font-family:sans-serif;margin-bottom:8px;">{lines}</div>'


def html_table(table: HeatmapTable, min_val: float, max_val: float) -> str:
    """One titled heatmap ``<div>`` with a header of generated-token indices and tokens."""
    parts = [
        f'<div><span style="font-size: 20px;"><b>{escape(table.title)}</b></span>',
        f"<br/>{escape('→ : Generated tokens, ↓ : Attributed tokens')}<br/>",
        _TABLE_OPEN,
        "<tr><th></th><th></th>" + "".join(f"<th>{idx}</th>" for idx, _ in table.col_tokens) + "</tr>",
        "<tr><th></th><th></th>"
        + "".join(f"<th>{escape(display_token(tok))}</th>" for _, tok in table.col_tokens)
        + "</tr>",
    ]
    for row_idx, (token, scores) in enumerate(zip(table.row_tokens, table.scores)):
        cells = "".join(
            "<th></th>"
            if is_nan(v)
            else f'<th style="background:{red_transparent_blue(v, min_val, max_val)}">{v:.3f}</th>'
            for v in scores
        )
        parts.append(f"<tr><th>{row_idx}</th><th>{escape(display_token(token))}</th>{cells}</tr>")
    for name, values in table.step_scores.items():
        cells = "".join(f"<th>{f'<b>{v:.3f}</b>' if abs(v) >= 0.5 else f'{v:.3f}'}</th>" for v in values)
        parts.append(f'<tr style="outline: thin solid"><th></th><th><b>{escape(name)}</b></th>{cells}</tr>')
    parts.append("</table></div>")
    return "".join(parts)


def render_html(
    tables_per_example: list[list[HeatmapTable]],
    min_val: float,
    max_val: float,
    info: Mapping[str, Any] | None = None,
    texts: Sequence[Mapping[str, str] | None] | None = None,
    legend: bool = True,
) -> str:
    """HTML for every example: an ``"<n>th instance:"`` header, then a bordered container of heatmaps.

    Args:
        tables_per_example: heatmap tables of each example.
        min_val: lower end of the colour scale.
        max_val: upper end of the colour scale.
        info: run information (``FeatureAttributionOutput.info``) for the metadata header.
        texts: per example, ``{"Input text": ..., "Generated text": ...}`` lines shown above its heatmaps.
        legend: add the colour legend (shared by all examples) after the metadata header.
    """
    out = [metadata_html(info)]
    if legend and tables_per_example:
        out.append(legend_html(min_val, max_val))
    for idx, tables in enumerate(tables_per_example):
        scope = uid()
        body = _texts_html(texts[idx] if texts and idx < len(texts) else None)
        body += "".join(html_table(t, min_val, max_val) for t in tables)
        out.append(
            f"<br/><b>{ordinal(idx)} instance:</b><br/>"
            f'<html><div id="{scope}_viz_container"><div id="{scope}_content" '
            f'style="padding:15px;border-style:solid;margin:5px;">{body}</div></div></html>'
        )
    return "".join(out)


def html_page(body: str, title: str = "inseq attributions") -> str:
    """Wrap an HTML fragment into a standalone UTF-8 page (for saving to a file or opening in a browser).

    Example:
        >>> html_page("<b>hi</b>").startswith("<!DOCTYPE html>")
        True
    """
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title></head>'
        f'<body style="background:#fff;">{body}</body></html>\n'
    )
