"""Matplotlib figures of 2-D attributions: token heatmaps with a colour bar and step scores as strips.

Figures are built with :class:`matplotlib.figure.Figure` directly (no pyplot state), so they work with any backend,
are shown by notebooks when returned, and can be saved as PNG, SVG or PDF. The size grows with the number of tokens;
for long sequences the cells shrink down to a minimum and only every n-th tick is labelled so labels stay readable.

Example:
    >>> fig = plot_attributions(seq.aggregate())  # doctest: +SKIP
    >>> fig.savefig("attributions.png", dpi=150)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .heatmap import build_tables, display_token, to_2d, value_range
from .tokens import step_score_range

if TYPE_CHECKING:
    from matplotlib.colors import Colormap
    from matplotlib.figure import Figure

__all__ = ["attribution_cmap", "plot_attributions", "save_plots"]

FORMATS = ("png", "svg", "pdf")
_BLUE, _RED = (33 / 255, 102 / 255, 172 / 255), (178 / 255, 24 / 255, 43 / 255)


def attribution_cmap() -> Colormap:
    """Diverging blue → white → red map: the HTML heatmap's red-transparent-blue colours on a white page."""
    from matplotlib.colors import LinearSegmentedColormap

    cmap = LinearSegmentedColormap.from_list("inseq_blue_white_red", [_BLUE, (1.0, 1.0, 1.0), _RED], N=256)
    return cmap.with_extremes(bad="#eeeeee")


def _layout(n_cols: int, n_rows: int, n_strips: int, row_chars: int, col_chars: int) -> dict[str, float]:
    """Cell size (inches), font size and figure size for a heatmap of ``n_rows`` x ``n_cols``."""
    longest = max(n_cols, n_rows + n_strips, 1)
    cell = min(0.4, max(0.12, 36.0 / longest), 60.0 / longest)  # at most ~60 inches on the longest side
    font = min(10.0, max(5.0, cell * 72 * 0.7))
    left = 0.4 + min(row_chars, 24) * font / 72 * 0.65
    bottom = 0.5 + min(col_chars, 24) * font / 72 * 0.65
    width = left + n_cols * cell + 1.3
    height = bottom + (n_rows + 0.8 * n_strips) * cell + 0.9
    return {
        "cell": cell,
        "font": font,
        "left": left,
        "bottom": bottom,
        "width": max(width, 4.0),
        "height": max(height, 2.5),
    }


def _ticks(labels: list[str], font: float, cell: float) -> tuple[list[int], list[str]]:
    """Every n-th label when the cells are too small for the font (at least one label per ~1.3 font heights)."""
    step = max(1, math.ceil(font * 1.3 / 72 / cell))
    idx = list(range(0, len(labels), step))
    return idx, [labels[i] for i in idx]


def _annotate(ax: Any, values: np.ndarray, font: float, cmap: Any, vmin: float, vmax: float) -> None:
    """Write each value in its cell, in black or white depending on the cell colour."""
    from matplotlib import colormaps

    cmap = colormaps[cmap] if isinstance(cmap, str) else cmap
    for (r, c), v in np.ndenumerate(values):
        if math.isnan(v):
            continue
        red, green, blue, _ = cmap(min(max((v - vmin) / (vmax - vmin), 0.0), 1.0))
        color = "#111" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "#fff"
        ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=font * 0.75, color=color)


def plot_attributions(
    attr: Any,
    min_val: float | None = None,
    max_val: float | None = None,
    replace_char: Mapping[str, str] | None = None,
    annotate: bool | None = None,
    title: str | None = None,
    cmap: Colormap | str | None = None,
) -> Figure:
    """Figure of one sequence output: source/target heatmaps on a shared generated-token axis, step-score strips.

    N-D attributions are aggregated first (default aggregator). Contrastive tokens (``"a → b"``) are kept as labels.

    Args:
        attr: a ``FeatureAttributionSequenceOutput``.
        min_val: lower end of the colour scale (default ``-max_val``).
        max_val: upper end of the colour scale (default: largest value, at least 0).
        replace_char: ``{substring: replacement}`` applied to tokens.
        annotate: write values in cells (default: only when the heatmap is small enough to read them).
        title: figure title (default: none).
        cmap: colour map (default: :func:`attribution_cmap`).

    Returns:
        A ``matplotlib.figure.Figure``.

    Example:
        >>> fig = plot_attributions(seq)  # doctest: +SKIP
    """
    from matplotlib.figure import Figure

    attr = to_2d(attr)
    vmin, vmax = value_range([attr], min_val, max_val)
    tables = build_tables(attr, replace_char)
    heatmaps = [t for t in tables if t.row_tokens]
    steps = tables[0].step_scores if tables else {}
    cols = [display_token(tok) for _, tok in (tables[0].col_tokens if tables else [])]
    n_rows = sum(len(t.row_tokens) for t in heatmaps)
    row_chars = max([len(display_token(r)) for t in heatmaps for r in t.row_tokens] + [len(n) for n in steps] + [1])
    lay = _layout(len(cols), n_rows, len(steps), row_chars, max([len(c) for c in cols] + [1]))
    fig = Figure(figsize=(lay["width"], lay["height"]), layout="constrained")
    ratios = [len(t.row_tokens) for t in heatmaps] + [0.8] * len(steps)
    if not ratios:
        raise ValueError("Nothing to plot: the output has no attributions and no step scores.")
    axes = fig.subplots(len(ratios), 1, sharex=True, squeeze=False, gridspec_kw={"height_ratios": ratios})[:, 0]
    cmap = cmap or attribution_cmap()
    annotate = annotate if annotate is not None else (lay["cell"] >= 0.3 and len(cols) <= 30 and n_rows <= 40)
    image = None
    for ax, table in zip(axes, heatmaps):
        values = np.array(table.scores, dtype=float)
        image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
        rows = [display_token(r) for r in table.row_tokens]
        ticks, labels = _ticks(rows, lay["font"], lay["cell"])
        ax.set_yticks(ticks, labels, fontsize=lay["font"])
        ax.set_ylabel(table.title.replace(" Saliency Heatmap", ""), fontsize=lay["font"] + 1)
        if annotate:
            _annotate(ax, values, lay["font"], cmap, vmin, vmax)
    for ax, (name, values) in zip(axes[len(heatmaps) :], steps.items()):
        _strip(ax, name, values, lay, annotate)
    ticks, labels = _ticks(cols, lay["font"], lay["cell"])
    axes[-1].set_xticks(
        ticks, labels, fontsize=lay["font"], rotation=90 if len(cols) > 8 or max(map(len, cols), default=0) > 6 else 0
    )
    axes[0].xaxis.set_label_position("top")
    axes[0].set_xlabel("Generated tokens →", fontsize=lay["font"] + 1)
    if image is not None:
        bar = fig.colorbar(image, ax=list(axes[: len(heatmaps)]), shrink=0.9, aspect=30, pad=0.02)
        bar.set_label("Attribution", fontsize=lay["font"] + 1)
        bar.ax.tick_params(labelsize=lay["font"])
    if title:
        fig.suptitle(title)
    return fig


def _strip(ax: Any, name: str, values: list[float], lay: Mapping[str, float], annotate: bool) -> None:
    lo, hi, diverging = step_score_range(values)
    row = np.array([values], dtype=float)
    cmap = "BrBG" if diverging else "Greens"
    ax.imshow(np.ma.masked_invalid(row), cmap=cmap, vmin=lo, vmax=hi, aspect="auto")
    ax.set_yticks([0], [name], fontsize=lay["font"])
    if annotate:
        _annotate(ax, row, lay["font"], cmap, lo, hi)


def save_plots(
    attributions: Any,
    directory: str | Path,
    fmt: str = "png",
    dpi: int = 150,
    prefix: str = "sequence",
    **plot_kwargs: Any,
) -> list[Path]:
    """Save one figure per sequence as ``<directory>/<prefix>_<i>.<fmt>``; returns the paths.

    Args:
        attributions: a ``FeatureAttributionOutput`` or a list of sequence outputs.
        directory: target folder (created when missing).
        fmt: ``"png"``, ``"svg"`` or ``"pdf"``.
        dpi: resolution of raster output.
        prefix: file name prefix.
        **plot_kwargs: forwarded to :func:`plot_attributions`.

    Raises:
        ValueError: for an unsupported ``fmt``.

    Example:
        >>> save_plots(out, "figures", fmt="svg")  # doctest: +SKIP
        [PosixPath('figures/sequence_0.svg')]
    """
    if fmt not in FORMATS:
        raise ValueError(f"Unsupported figure format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    seqs: Sequence[Any] = getattr(attributions, "sequence_attributions", attributions)
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for idx, seq in enumerate(seqs):
        fig = plot_attributions(seq, **plot_kwargs)
        path = folder / f"{prefix}_{idx}.{fmt}"
        fig.savefig(path, format=fmt, dpi=dpi)
        paths.append(path)
    return paths
