"""Renderer-independent heatmap tables and colour scales shared by the console and HTML views."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import torch

from ..utils.typing import TokenWithId

__all__ = [
    "HeatmapTable",
    "blue_to_red",
    "build_tables",
    "coolwarm_hex",
    "display_token",
    "ordinal",
    "red_transparent_blue",
    "to_2d",
    "value_range",
]

_BLUE = (33, 102, 172)
_RED = (178, 24, 43)
_BEIGE = (247, 252, 253)
_CONTROL = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


@dataclass
class HeatmapTable:
    """One heatmap: attributed tokens (rows) x generated tokens (columns), plus step-score rows.

    Attributes:
        title: ``"Source Saliency Heatmap"`` or ``"Target Saliency Heatmap"``.
        row_tokens: attributed token strings.
        col_tokens: ``(position, token)`` of each generated token.
        scores: ``[len(row_tokens), len(col_tokens)]`` nested lists (NaN for empty cells), possibly empty.
        step_scores: ``{name: [value per generated token]}``.
    """

    title: str
    row_tokens: list[str]
    col_tokens: list[tuple[int, str]]
    scores: list[list[float]]
    step_scores: dict[str, list[float]] = field(default_factory=dict)


def to_2d(attr: Any) -> Any:
    """Aggregate a sequence output with its default aggregator, then with ``mean`` until it is 2-D."""
    if attr.attributions_ndim > 2:
        attr = attr.aggregate()
    while attr.attributions_ndim > 2:
        attr = attr.aggregate("mean", do_post_aggregation_checks=False)
    return attr


def _tokens(tokens: list[TokenWithId], replace_char: dict[str, str] | None) -> list[str]:
    strings = [t.token for t in tokens]
    for old, new in (replace_char or {}).items():
        strings = [s.replace(old, new) for s in strings]
    return strings


def build_tables(attr: Any, replace_char: dict[str, str] | None = None) -> list[HeatmapTable]:
    """Heatmap tables of one 2-D sequence output (source and/or target side)."""
    target = _tokens(attr.target, replace_char)
    cols = [(attr.attr_pos_start + i, target[attr.attr_pos_start + i]) for i in range(attr.num_steps)]
    steps = {name: score.tolist() for name, score in attr.step_scores.items()}
    tables = []
    if attr.source_attributions is not None:
        rows = _tokens(attr.source, replace_char)
        tables.append(HeatmapTable("Source Saliency Heatmap", rows, cols, attr.source_attributions.tolist(), steps))
    if attr.target_attributions is not None:
        n_rows = attr.target_attributions.shape[0]
        scores = attr.target_attributions.tolist()
        tables.append(HeatmapTable("Target Saliency Heatmap", target[:n_rows], cols, scores, steps))
    elif attr.source_attributions is None and steps:
        tables.append(HeatmapTable("Target Saliency Heatmap", [], cols, [], steps))
    return tables


def value_range(attrs: list[Any], min_val: float | None, max_val: float | None) -> tuple[float, float]:
    """Default colour range: ``max_val`` = largest value over all outputs (>= 0), ``min_val`` = ``-max_val``."""
    if max_val is None:
        max_val = max([a.maximum for a in attrs], default=0.0)
    if min_val is None:
        min_val = -max_val
    if max_val <= min_val:
        max_val = min_val + 1e-9
    return float(min_val), float(max_val)


def _position(value: float, vmin: float, vmax: float) -> float:
    return min(max((value - vmin) / (vmax - vmin), 0.0), 1.0)


@functools.cache
def _coolwarm_levels() -> tuple[str, ...]:
    import matplotlib

    cmap = matplotlib.colormaps["coolwarm"].resampled(200)
    return tuple(f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}" for r, g, b, _ in cmap(range(200)))


def coolwarm_hex(value: float, vmin: float, vmax: float) -> str:
    """Hex colour of ``value`` on matplotlib's ``coolwarm`` map (200 levels) scaled to ``[vmin, vmax]``.

    Example:
        >>> coolwarm_hex(1.0, -1.0, 1.0)
        '#b40426'
    """
    return _coolwarm_levels()[min(int(_position(value, vmin, vmax) * 200), 199)]


def red_transparent_blue(value: float, vmin: float, vmax: float) -> str:
    """CSS ``rgba`` colour: blue below the centre of ``[vmin, vmax]``, red above, alpha growing to 1 at the ends.

    Example:
        >>> red_transparent_blue(1.0, -1.0, 1.0)
        'rgba(178, 24, 43, 1.0)'
    """
    pos = _position(value, vmin, vmax)
    rgb = _RED if pos >= 0.5 else _BLUE
    alpha = round(abs(pos - 0.5) * 2, 3)
    return f"rgba({rgb[0]}, {rgb[1]}, {rgb[2]}, {alpha})"


def ordinal(n: int) -> str:
    """``0th``, ``1st``, ``2nd``, ``3rd``, ``4th``, ..., ``11th``, ``21st``.

    Example:
        >>> [ordinal(i) for i in (0, 1, 2, 3, 11, 22)]
        ['0th', '1st', '2nd', '3rd', '11th', '22nd']
    """
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def is_nan(value: float) -> bool:
    """True for NaN (empty heatmap cells)."""
    return value != value or (isinstance(value, torch.Tensor) and bool(value.isnan()))


def display_token(token: str) -> str:
    """``token`` with newlines, tabs and carriage returns shown as ``\\n``, ``\\t``, ``\\r`` (one line per label).

    Example:
        >>> display_token("a\\nb")
        'a\\\\nb'
    """
    for raw, shown in _CONTROL.items():
        token = token.replace(raw, shown)
    return token


def blue_to_red(value: float, vmin: float, vmax: float) -> tuple[int, int, int]:
    """RGB of ``value`` on inseq's token-view map: blue ``(33,102,172)`` → beige ``(247,252,253)`` → red ``(178,24,43)``.

    Example:
        >>> blue_to_red(0.0, -1.0, 1.0), blue_to_red(1.0, -1.0, 1.0)
        ((247, 252, 253), (178, 24, 43))
    """
    pos = _position(value, vmin, vmax)
    low, high, frac = (_BLUE, _BEIGE, pos * 2) if pos < 0.5 else (_BEIGE, _RED, (pos - 0.5) * 2)
    return tuple(round(a + (b - a) * frac) for a, b in zip(low, high))  # type: ignore[return-value]
