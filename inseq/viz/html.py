"""HTML heatmaps (returned with ``return_html=True`` and displayed in notebooks); every token is HTML-escaped.

Example:
    >>> "<table" in render_html([[HeatmapTable("Source Saliency Heatmap", ["a"], [(0, "b")], [[0.5]])]], -1, 1)
    True
"""

from __future__ import annotations

import random
import string
from html import escape

from .heatmap import HeatmapTable, is_nan, ordinal, red_transparent_blue

__all__ = ["html_table", "render_html"]

_TABLE_OPEN = '<table border="1" cellpadding="5" cellspacing="5" style="overflow-x:scroll;display:block;">'


def _uid() -> str:
    return "".join(random.choices(string.ascii_lowercase, k=20))


def html_table(table: HeatmapTable, min_val: float, max_val: float) -> str:
    """One titled heatmap ``<div>`` with a header of generated-token indices and tokens."""
    parts = [
        f'<div><span style="font-size: 20px;"><b>{escape(table.title)}</b></span>',
        f"<br/>{escape('→ : Generated tokens, ↓ : Attributed tokens')}<br/>",
        _TABLE_OPEN,
        "<tr><th></th><th></th>" + "".join(f"<th>{idx}</th>" for idx, _ in table.col_tokens) + "</tr>",
        "<tr><th></th><th></th>" + "".join(f"<th>{escape(tok)}</th>" for _, tok in table.col_tokens) + "</tr>",
    ]
    for row_idx, (token, scores) in enumerate(zip(table.row_tokens, table.scores)):
        cells = "".join(
            "<th></th>"
            if is_nan(v)
            else f'<th style="background:{red_transparent_blue(v, min_val, max_val)}">{v:.3f}</th>'
            for v in scores
        )
        parts.append(f"<tr><th>{row_idx}</th><th>{escape(token)}</th>{cells}</tr>")
    for name, values in table.step_scores.items():
        cells = "".join(f"<th>{f'<b>{v:.3f}</b>' if abs(v) >= 0.5 else f'{v:.3f}'}</th>" for v in values)
        parts.append(f'<tr style="outline: thin solid"><th></th><th><b>{escape(name)}</b></th>{cells}</tr>')
    parts.append("</table></div>")
    return "".join(parts)


def render_html(tables_per_example: list[list[HeatmapTable]], min_val: float, max_val: float) -> str:
    """HTML for every example: an ``"<n>th instance:"`` header, then a bordered container of heatmaps."""
    out = []
    for idx, tables in enumerate(tables_per_example):
        uid = _uid()
        body = "".join(html_table(t, min_val, max_val) for t in tables)
        out.append(
            f"<br/><b>{ordinal(idx)} instance:</b><br/>"
            f'<html><div id="{uid}_viz_container"><div id="{uid}_content" '
            f'style="padding:15px;border-style:solid;margin:5px;">{body}</div></div></html>'
        )
    return "".join(out)
