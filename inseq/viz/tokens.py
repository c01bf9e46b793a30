"""Token view: the generated text with one expandable node per generated token (inseq 0.7's ``show_tokens``).

Each generated token is a ``<details>`` node: expanding it shows the source tokens and the target prefix highlighted
by their attribution to that token (blue → beige → red). ``step_score_highlight`` colours the generated tokens by a
step score, ``wrap_after`` breaks the text into lines. The HTML needs no JavaScript and no network access, so it works
in notebooks, in saved HTML files and in any browser. A rich version prints the same content in terminals.

Example:
    >>> html = token_view_html([seq], -1.0, 1.0, step_score_highlight="probability")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from rich.console import Console
from rich.style import Style
from rich.text import Text

from .heatmap import blue_to_red, display_token, is_nan
from .html import legend_html, metadata_html, uid

__all__ = ["TokenNode", "check_wrap_after", "token_nodes", "token_view_console", "token_view_html"]

WrapAfter = int | str | Sequence[str] | None

_CSS = """
.inseq-tv{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:14px;line-height:1.9;color:#222;background:#fff}
.inseq-tv .tv-title{font-family:sans-serif;font-weight:bold;margin:6px 0}
.inseq-tv details.tv-node{display:inline-block;vertical-align:top;margin:0 1px}
.inseq-tv details.tv-node>summary{list-style:none;cursor:pointer;width:fit-content;white-space:pre;border-radius:3px;padding:0 2px;
border:1px solid #bbb}
.inseq-tv details.tv-node>summary::-webkit-details-marker{display:none}
.inseq-tv details.tv-node[open]>summary{border-color:#333;box-shadow:0 0 0 1px #333}
.inseq-tv .tv-exp{display:block;border-left:2px solid #999;margin:2px 0 6px 6px;padding:2px 8px;white-space:normal}
.inseq-tv .tv-cap{font-style:italic;color:#777;font-family:sans-serif;font-size:12px}
.inseq-tv .tv-tok{white-space:pre;border-radius:2px;padding:0 1px;margin:0 1px}
"""


@dataclass
class TokenNode:
    """One generated token of the token view.

    Attributes:
        position: index of the token in the target.
        label: the token as displayed (``replace_char`` applied).
        source: ``(token, score)`` of each source token (empty without source attributions).
        target: ``(token, score)`` of each target prefix token with a score (NaN rows are left out).
        step_score: the highlighted step score, or None.
        wrap: start a new line after this token.
    """

    position: int
    label: str
    source: list[tuple[str, float]]
    target: list[tuple[str, float]]
    step_score: float | None
    wrap: bool


def _replace(token: str, replace_char: Mapping[str, str] | None) -> str:
    for old, new in (replace_char or {}).items():
        token = token.replace(old, new)
    return token


def check_wrap_after(wrap_after: WrapAfter) -> None:
    """Raise if ``wrap_after`` is not None, a positive int, a string or a list/tuple of strings."""
    if wrap_after is None or isinstance(wrap_after, str):
        return
    if isinstance(wrap_after, bool) or (isinstance(wrap_after, int) and wrap_after <= 0):
        raise ValueError(f"wrap_after must be a positive number of tokens, got {wrap_after!r}.")
    if isinstance(wrap_after, int):
        return
    if not isinstance(wrap_after, (list, tuple)) or not all(isinstance(t, str) for t in wrap_after):
        raise TypeError(f"wrap_after must be an int, a token string or a list/tuple of tokens, got {wrap_after!r}.")


def _wraps(step: int, raw: str, shown: str, wrap_after: WrapAfter) -> bool:
    if wrap_after is None:
        return False
    if isinstance(wrap_after, int):
        return (step + 1) % wrap_after == 0
    options = {wrap_after} if isinstance(wrap_after, str) else set(wrap_after)
    return raw in options or shown in options or shown.strip() in options


def token_nodes(
    attr: Any,
    replace_char: Mapping[str, str] | None = None,
    wrap_after: WrapAfter = None,
    step_score_highlight: str | None = None,
) -> list[TokenNode]:
    """Build the nodes of one 2-D sequence output (``attr.source_attributions`` / ``target_attributions`` 2-D).

    Raises:
        ValueError: if ``step_score_highlight`` is not one of the output's step scores.
    """
    check_wrap_after(wrap_after)
    if step_score_highlight is not None and step_score_highlight not in attr.step_scores:
        available = ", ".join(attr.step_scores) or "none"
        raise ValueError(
            f"step_score_highlight={step_score_highlight!r} is not a step score here; available: {available}."
        )
    src = [_replace(t.token, replace_char) for t in attr.source]
    tgt = [_replace(t.token, replace_char) for t in attr.target]
    src_scores = attr.source_attributions.tolist() if attr.source_attributions is not None else None
    tgt_scores = attr.target_attributions.tolist() if attr.target_attributions is not None else None
    highlight = attr.step_scores[step_score_highlight].tolist() if step_score_highlight else None
    nodes = []
    for step in range(attr.num_steps):
        pos = attr.attr_pos_start + step
        source = [(src[r], row[step]) for r, row in enumerate(src_scores)] if src_scores else []
        target = [(tgt[r], row[step]) for r, row in enumerate(tgt_scores or []) if not is_nan(row[step])]
        score = highlight[step] if highlight else None
        nodes.append(
            TokenNode(pos, tgt[pos], source, target, score, _wraps(step, attr.target[pos].token, tgt[pos], wrap_after))
        )
    return nodes


def _text_color(rgb: tuple[int, int, int]) -> str:
    luminance = (0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]) / 255
    return "#000" if luminance > 0.55 else "#fff"


def step_score_rgb(value: float, vmin: float, vmax: float, diverging: bool) -> tuple[int, int, int]:
    """Colour of a step score: matplotlib ``Greens`` for non-negative scores, ``BrBG`` (brown to green) otherwise."""
    import matplotlib

    cmap = matplotlib.colormaps["BrBG" if diverging else "Greens"]
    pos = 0.5 if vmax <= vmin else min(max((value - vmin) / (vmax - vmin), 0.0), 1.0)
    red, green, blue, _ = cmap(pos * 0.85 if not diverging else pos)
    return round(red * 255), round(green * 255), round(blue * 255)


def step_score_range(values: list[float]) -> tuple[float, float, bool]:
    """``(vmin, vmax, diverging)`` for step-score highlights: ``[0, max]`` if all >= 0, else symmetric."""
    finite = [v for v in values if not is_nan(v)] or [0.0]
    if min(finite) >= 0:
        return 0.0, max(max(finite), 1e-9), False
    bound = max(abs(v) for v in finite)
    return -bound, bound, True


def _span(token: str, score: float, vmin: float, vmax: float) -> str:
    rgb = blue_to_red(score, vmin, vmax)
    style = f"background:rgb{rgb};color:{_text_color(rgb)}"
    return f'<span class="tv-tok" style="{style}" title="{score:.4f}">{escape(display_token(token))}</span>'


def _node_html(node: TokenNode, vmin: float, vmax: float, ss_range: tuple[float, float, bool] | None) -> str:
    style = ""
    if node.step_score is not None and ss_range is not None:
        rgb = step_score_rgb(node.step_score, *ss_range)
        style = f' style="background:rgb{rgb};color:{_text_color(rgb)}" title="{node.step_score:.4f}"'
    label = escape(display_token(node.label))
    quoted = escape(display_token(node.label).strip() or display_token(node.label))
    parts = [f'<details class="tv-node" data-position="{node.position}"><summary{style}>{label}</summary>']
    parts.append('<div class="tv-exp">')
    if node.source:
        parts.append(f'<div class="tv-cap">Source attributions for "{quoted}"</div><div>')
        parts.extend(_span(t, s, vmin, vmax) for t, s in node.source)
        parts.append("</div>")
    if node.target:
        parts.append(f'<div class="tv-cap">Target attributions for "{quoted}"</div><div>')
        parts.extend(_span(t, s, vmin, vmax) for t, s in node.target)
        parts.append("</div>")
    parts.append("</div></details>" + ("<br/>" if node.wrap else ""))
    return "".join(parts)


def token_view_html(
    nodes_per_example: list[list[TokenNode]],
    min_val: float,
    max_val: float,
    step_score_highlight: str | None = None,
    info: Mapping[str, Any] | None = None,
) -> str:
    """HTML of the token view for every example (one legend for the shared scale)."""
    scope = uid()
    gradient = [f"rgb{blue_to_red(v, 0.0, 1.0)}" for v in (0.0, 0.5, 1.0)]
    parts = [f'<div class="inseq-tv" id="{scope}"><style>{_CSS}</style>', metadata_html(info)]
    parts.append(legend_html(min_val, max_val, gradient, "Attribution (expand a token to see it)"))
    title = (
        "Generated text:"
        if step_score_highlight is None
        else f"Generated text with {step_score_highlight} highlights:"
    )
    for idx, nodes in enumerate(nodes_per_example):
        ss_range = step_score_range([n.step_score for n in nodes]) if step_score_highlight else None
        parts.append(f'<div class="tv-example" data-example="{idx}"><div class="tv-title">{escape(title)}</div><div>')
        parts.extend(_node_html(node, min_val, max_val, ss_range) for node in nodes)
        parts.append("</div></div>")
    parts.append("</div>")
    return "".join(parts)


def _rich_token(token: str, score: float, vmin: float, vmax: float) -> Text:
    rgb = blue_to_red(score, vmin, vmax)
    color = "black" if _text_color(rgb) == "#000" else "white"
    return Text(display_token(token), style=Style(bgcolor=f"rgb({rgb[0]},{rgb[1]},{rgb[2]})", color=color))


def token_view_console(
    nodes_per_example: list[list[TokenNode]],
    min_val: float,
    max_val: float,
    step_score_highlight: str | None = None,
    console: Console | None = None,
) -> None:
    """Print the token view: the generated text, then one line per generated token with its highlighted inputs."""
    console = console or Console()
    title = (
        "Generated text:"
        if step_score_highlight is None
        else f"Generated text with {step_score_highlight} highlights:"
    )
    for nodes in nodes_per_example:
        ss_range = step_score_range([n.step_score for n in nodes]) if step_score_highlight else None
        text = Text()
        for node in nodes:
            style = ""
            if ss_range is not None and node.step_score is not None:
                rgb = step_score_rgb(node.step_score, *ss_range)
                style = Style(bgcolor=f"rgb({rgb[0]},{rgb[1]},{rgb[2]})", color="black")
            text.append(display_token(node.label), style=style)
            text.append("\n" if node.wrap else "")
        console.print(Text(title, style="bold"))
        console.print(text)
        for node in nodes:
            line = Text(f"{node.position} ", style="bold").append(display_token(node.label), style="bold underline")
            for name, items in (("source", node.source), ("target", node.target)):
                if items:
                    line.append(f"  {name}: ", style="italic")
                    for token, score in items:
                        line.append_text(_rich_token(token, score, min_val, max_val)).append(" ")
            console.print(line)
