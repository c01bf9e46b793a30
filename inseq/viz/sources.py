"""The view of a source attribution: the context with each source coloured by its score, then the response.

Scores are coloured on inseq's blue-beige-red map, symmetric around zero (red: the response relies on the source).
The HTML view shows each source's score and rank on hover and lists the best sources under the response; chat input
is shown one message per line with its role. Like the rest of :mod:`inseq.viz`, this draws data only: it reads the
output by its fields (``context``, ``sources``, ``source_spans``, ``source_parts``, ``scores``, ``response``,
``info``).

Example:
    >>> html = sources_html(out)  # doctest: +SKIP
    >>> show_sources(out)  # doctest: +SKIP
"""

from __future__ import annotations

from html import escape
from typing import Any

from .heatmap import blue_to_red
from .html import uid

_STYLE = (
    ".inseq-src{font-family:sans-serif;line-height:1.9;max-width:60em}"
    ".inseq-src .ctx{white-space:pre-wrap;border:1px solid #ddd;padding:.6em;border-radius:4px}"
    ".inseq-src .s{padding:.1em .15em;border-radius:3px;cursor:default}"
    ".inseq-src .role{font-weight:bold;color:#555;margin-right:.4em}"
    ".inseq-src .resp{margin-top:.6em;padding:.6em;background:#f6f6f6;border-radius:4px;white-space:pre-wrap}"
    ".inseq-src table{border-collapse:collapse;margin-top:.6em;font-size:.9em}"
    ".inseq-src td,.inseq-src th{padding:.15em .6em;border-bottom:1px solid #eee;text-align:left}"
)


def _bound(scores: Any) -> float:
    finite = [abs(float(s)) for s in scores if abs(float(s)) == abs(float(s))]
    return max(finite, default=0.0) or 1.0


def _text_colour(rgb: tuple[int, int, int]) -> str:
    return "#000" if (0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]) / 255 > 0.55 else "#fff"


def _source_span(text: str, score: float, rank: int, bound: float) -> str:
    rgb = blue_to_red(score, -bound, bound)
    style = f"background:rgb{rgb};color:{_text_colour(rgb)}"
    return f'<span class="s" style="{style}" title="score {score:.4f} (rank {rank})">{escape(text)}</span>'


def _coloured(text: str, spans: list[tuple[int, int, str]]) -> str:
    """``text`` with the ``(start, end, html)`` spans in place of their characters."""
    out, cursor = [], 0
    for start, end, html in sorted(spans):
        out.append(escape(text[cursor:start]))
        out.append(html)
        cursor = end
    out.append(escape(text[cursor:]))
    return "".join(out)


def _ranks(scores: Any) -> list[int]:
    order = sorted(range(len(scores)), key=lambda i: -float(scores[i]))
    ranks = [0] * len(scores)
    for rank, i in enumerate(order, 1):
        ranks[i] = rank
    return ranks


def _context_html(out: Any, bound: float) -> str:
    ranks = _ranks(out.scores)
    parts = out.source_parts or [0] * len(out.sources)
    pieces = [
        (a, b, _source_span(out.sources[i], float(out.scores[i]), ranks[i], bound), parts[i])
        for i, (a, b) in enumerate(out.source_spans)
    ]
    messages = (out.info or {}).get("messages")
    if not messages:
        return _coloured(out.context, [(a, b, h) for a, b, h, _ in pieces])
    lines = []
    for j, message in enumerate(messages):
        spans = [(a, b, h) for a, b, h, part in pieces if part == j]
        role = f'<span class="role">{escape(str(message.get("role")))}:</span>'
        lines.append(role + _coloured(message.get("content", ""), spans))
    return "\n".join(lines)


def sources_html(out: Any, top_k: int = 5) -> str:
    """Self-contained HTML of a source attribution (for notebooks, files or browsers).

    Args:
        out: A source attribution output.
        top_k: Best sources listed under the response (0: none).
    """
    bound = _bound(out.scores)
    order = sorted(range(len(out.scores)), key=lambda i: -float(out.scores[i]))[:top_k]
    rows = "".join(
        f"<tr><td>{r}</td><td>{float(out.scores[i]):.4f}</td><td>{escape(out.sources[i])}</td></tr>"
        for r, i in enumerate(order, 1)
    )
    table = f"<table><tr><th>rank</th><th>score</th><th>source</th></tr>{rows}</table>" if order else ""
    method = escape(str(getattr(out, "method", "")))
    return (
        f'<div class="inseq-src" id="inseq-src-{uid()}"><style>{_STYLE}</style>'
        f"<div><b>Context</b> (sources coloured by score, method {method})</div>"
        f'<div class="ctx">{_context_html(out, bound)}</div>'
        f'<div class="resp"><b>Response:</b> {escape(out.response)}</div>{table}</div>'
    )


def _rich_text(text: str, spans: list[tuple[int, int, float]], bound: float) -> Any:
    """``text`` as rich text with the ``(start, end, score)`` spans coloured."""
    from rich.style import Style
    from rich.text import Text

    out, cursor = Text(), 0
    for start, end, score in sorted(spans):
        out.append(text[cursor:start])
        rgb = blue_to_red(score, -bound, bound)
        colour = "black" if _text_colour(rgb) == "#000" else "white"
        out.append(text[start:end], style=Style(bgcolor=f"rgb({rgb[0]},{rgb[1]},{rgb[2]})", color=colour))
        cursor = end
    return out.append(text[cursor:])


def sources_console(out: Any, console: Any = None) -> None:
    """Print the context with coloured sources, the response and the best sources to the terminal (rich)."""
    from rich.console import Console
    from rich.text import Text

    console = console or Console()
    bound = _bound(out.scores)
    parts = out.source_parts or [0] * len(out.sources)
    spans = [(a, b, float(out.scores[i]), parts[i]) for i, (a, b) in enumerate(out.source_spans)]
    messages = (out.info or {}).get("messages")
    console.print(Text("Context:", style="bold"))
    if not messages:
        console.print(_rich_text(out.context, [(a, b, s) for a, b, s, _ in spans], bound))
    for j, message in enumerate(messages or []):
        line = Text(f"{message.get('role')}: ", style="bold")
        console.print(
            line.append_text(
                _rich_text(message.get("content", ""), [(a, b, s) for a, b, s, p in spans if p == j], bound)
            )
        )
    console.print(Text("Response: ", style="bold").append(out.response))
    for rank, i in enumerate(sorted(range(len(out.scores)), key=lambda j: -float(out.scores[j]))[:5], 1):
        console.print(f"  {rank}. {float(out.scores[i]):+.4f}  {out.sources[i]}")


def show_sources(out: Any, display: bool = True, return_html: bool = False) -> str | None:
    """Show a source attribution: HTML in notebooks, the terminal otherwise; ``return_html`` returns the HTML."""
    from . import _emit

    html = sources_html(out)
    if display:
        _emit(html, lambda: sources_console(out))
    return html if return_html else None
