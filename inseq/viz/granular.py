"""Granular view: N-D attribution arrays as heatmaps with selectable extra dimensions (inseq 0.7's ``show_granular``).

Rows are the attributed tokens and columns the generated tokens. One extra dimension can be spread inside each
generated-token column (``show_dim``, or the first extra dimension of at most ``max_show_size`` entries); every other
extra dimension gets a slider. ``slice_dims={dim: (start, end)}`` keeps only part of a dimension (by index or name).
The page is self-contained: the data is embedded as JSON and a short script recolours the cells when a slider moves;
the first slice is pre-rendered, so the view is readable without JavaScript too.

Example:
    >>> panels = granular_panels(seq, max_show_size=20)  # doctest: +SKIP
    >>> html = granular_view_html([panels], -1.0, 1.0)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from typing import Any

import numpy as np

from .console import CAPTION, ConsoleGrid
from .heatmap import blue_to_red, display_token
from .html import legend_html, metadata_html, uid

__all__ = ["GranularPanel", "granular_panels", "granular_view_html", "panel_grid", "resolve_dim"]

_CSS = """
.inseq-gv{font-family:sans-serif;font-size:12px;color:#222;background:#fff}
.inseq-gv .gv-title{font-size:16px;font-weight:bold;margin:10px 0 4px}
.inseq-gv table{border-collapse:collapse;display:block;overflow-x:auto}
.inseq-gv th{font-weight:normal;padding:1px 3px;white-space:pre;font-family:ui-monospace,Menlo,monospace}
.inseq-gv thead th{vertical-align:bottom}
.inseq-gv td.gv-cell{min-width:14px;height:16px;padding:0;border:1px solid #fff}
.inseq-gv td.gv-sep{border-left:2px solid #444}
.inseq-gv .gv-ctrl{margin:4px 0}
.inseq-gv .gv-read{color:#555;min-height:1.2em;font-family:ui-monospace,Menlo,monospace}
"""

_JS = """
(function(){var root=document.getElementById("%(id)s");if(!root)return;
var B=[33,102,172],W=[247,252,253],R=[178,24,43];
function col(v,lo,hi){if(v===null)return "transparent";var p=Math.min(Math.max((v-lo)/(hi-lo),0),1);
var a=p<0.5?B:W,b=p<0.5?W:R,f=p<0.5?p*2:(p-0.5)*2;
return "rgb("+[0,1,2].map(function(i){return Math.round(a[i]+(b[i]-a[i])*f);}).join(", ")+")";}
root.querySelectorAll(".gv-panel").forEach(function(panel){
var d=JSON.parse(panel.querySelector("script.gv-data").textContent);
var cells=panel.querySelectorAll("td.gv-cell"),sl=panel.querySelectorAll("input.gv-slider");
var read=panel.querySelector(".gv-read");
function offset(){var o=0;sl.forEach(function(s,i){o=o*d.sliders[i]+parseInt(s.value,10);});return o;}
function update(){var o=offset(),n=d.per_cell;
sl.forEach(function(s,i){s.nextElementSibling.textContent=parseInt(s.value,10)+d.starts[i];});
cells.forEach(function(c,i){var v=d.values[i*n+o];c.style.background=col(v,d.vmin,d.vmax);
c.title=v===null?"":String(v);});}
sl.forEach(function(s){s.addEventListener("input",update);});
cells.forEach(function(c){c.addEventListener("mouseenter",function(){read.textContent=c.dataset.where+" = "+c.title;});});
});})();
"""


@dataclass
class GranularPanel:
    """One side (source or target) of one example, ready to render.

    Attributes:
        title: ``"Source Saliency Heatmap"`` or ``"Target Saliency Heatmap"``.
        rows: attributed token labels.
        cols: ``(position, token)`` of each generated token.
        col_dim: ``(name, index labels)`` of the dimension spread inside each column, or None.
        sliders: ``(name, index labels)`` of each slider dimension.
        values: ``[rows, cols, len(col_dim labels) or 1, *slider sizes]`` array (NaN for empty cells).
    """

    title: str
    rows: list[str]
    cols: list[tuple[int, str]]
    col_dim: tuple[str, list[str]] | None
    sliders: list[tuple[str, list[str]]]
    values: np.ndarray


def resolve_dim(dim: int | str, names: Mapping[int, str], ndim: int) -> int:
    """Index of ``dim`` (an index, possibly negative, or a dimension name such as ``"Embedding Dimension"``).

    Raises:
        ValueError: if ``dim`` names no dimension of an ``ndim``-D array; the message lists the valid ones.
    """
    valid = ", ".join(f"{i}={names.get(i, f'dim {i}')!r}" for i in range(ndim))
    if isinstance(dim, str):
        for idx, name in names.items():
            if name == dim and idx < ndim:
                return idx
        raise ValueError(f"Unknown dimension {dim!r}; valid dimensions: {valid}.")
    if isinstance(dim, bool) or not isinstance(dim, int) or not -ndim <= dim < ndim:
        raise ValueError(f"Dimension {dim!r} is out of range; valid dimensions: {valid}.")
    return dim % ndim


def _apply_slices(
    tensor: np.ndarray, slice_dims: Mapping[Any, Any] | None, names: Mapping[int, str]
) -> tuple[np.ndarray, dict[int, int]]:
    """Slice ``tensor``; returns it and the start offset of every sliced dimension (for index labels)."""
    offsets: dict[int, int] = {}
    for key, bounds in (slice_dims or {}).items():
        dim = resolve_dim(key, names, tensor.ndim)
        if isinstance(bounds, slice):
            bounds = (bounds.start or 0, tensor.shape[dim] if bounds.stop is None else bounds.stop)
        if not isinstance(bounds, (tuple, list)) or len(bounds) != 2:
            raise ValueError(f"slice_dims[{key!r}] must be a (start, end) pair or a slice, got {bounds!r}.")
        start, end = (int(b) for b in bounds)
        if not 0 <= start < end <= tensor.shape[dim]:
            raise ValueError(f"slice_dims[{key!r}]={bounds!r} is outside 0..{tensor.shape[dim]} for that dimension.")
        tensor = np.take(tensor, range(start, end), axis=dim)
        offsets[dim] = start
    return tensor, offsets


def _panel(title: str, tensor: np.ndarray, rows: list[str], cols: list[tuple[int, str]], opts: dict) -> GranularPanel:
    names = opts["names"]
    tensor, offsets = _apply_slices(tensor, opts["slice_dims"], names)
    rows = rows[offsets.get(0, 0) : offsets.get(0, 0) + tensor.shape[0]]
    cols = cols[offsets.get(1, 0) : offsets.get(1, 0) + tensor.shape[1]]
    extra = list(range(2, tensor.ndim))
    show = opts["show_dim"]
    if show is not None:
        show = resolve_dim(show, names, tensor.ndim)
        if show < 2:
            raise ValueError(
                f"show_dim={opts['show_dim']!r} must be an extra dimension (index >= 2), not rows/columns."
            )
    else:
        show = next((d for d in extra if tensor.shape[d] <= opts["max_show_size"]), None)
    sliders = [d for d in extra if d != show]

    def labels(dim: int) -> tuple[str, list[str]]:
        start = offsets.get(dim, 0)
        return names.get(dim, f"Dimension {dim}"), [str(start + i) for i in range(tensor.shape[dim])]

    order = [0, 1] + ([show] if show is not None else []) + sliders
    values = np.transpose(tensor, order)
    if show is None:
        values = values[:, :, None]
    return GranularPanel(
        title, rows, cols, labels(show) if show is not None else None, [labels(d) for d in sliders], values
    )


def granular_panels(
    attr: Any,
    max_show_size: int = 20,
    show_dim: int | str | None = None,
    slice_dims: Mapping[Any, Any] | None = None,
    replace_char: Mapping[str, str] | None = None,
) -> list[GranularPanel]:
    """Panels (source and/or target) of one sequence output, with the attributions left N-D.

    Raises:
        ValueError: for an unknown ``show_dim`` / ``slice_dims`` dimension or out-of-range slice bounds.
    """
    if not isinstance(max_show_size, int) or max_show_size < 1:
        raise ValueError(f"max_show_size must be a positive int, got {max_show_size!r}.")

    def strings(tokens: list[Any]) -> list[str]:
        out = [t.token for t in tokens]
        for old, new in (replace_char or {}).items():
            out = [s.replace(old, new) for s in out]
        return out

    target = strings(attr.target)
    cols = [(attr.attr_pos_start + i, target[attr.attr_pos_start + i]) for i in range(attr.num_steps)]
    opts = {
        "names": dict(attr.config["attribution_dim_names"] or {}),
        "max_show_size": max_show_size,
        "show_dim": show_dim,
        "slice_dims": slice_dims,
    }
    panels = []
    if attr.source_attributions is not None:
        tensor = attr.source_attributions.detach().cpu().numpy()
        panels.append(_panel("Source Saliency Heatmap", tensor, strings(attr.source), cols, opts))
    if attr.target_attributions is not None:
        tensor = attr.target_attributions.detach().cpu().numpy()
        panels.append(_panel("Target Saliency Heatmap", tensor, target[: tensor.shape[0]], cols, opts))
    return panels


def _json_values(values: np.ndarray) -> list[float | None]:
    return [None if math.isnan(v) else float(f"{v:.5g}") for v in values.reshape(-1).tolist()]


def _cell(value: float, where: str, vmin: float, vmax: float, sep: bool) -> str:
    cls = "gv-cell gv-sep" if sep else "gv-cell"
    if math.isnan(value):
        return f'<td class="{cls}" data-where="{escape(where)}" title=""></td>'
    rgb = blue_to_red(value, vmin, vmax)
    return f'<td class="{cls}" data-where="{escape(where)}" style="background:rgb{rgb}" title="{value:.5g}"></td>'


def _panel_html(panel: GranularPanel, vmin: float, vmax: float) -> str:
    width = panel.values.shape[2]
    first = panel.values.reshape(*panel.values.shape[:3], -1)[..., 0]
    head = [
        f'<th colspan="{width}" class="gv-sep">{pos}<br/>{escape(display_token(tok))}</th>' for pos, tok in panel.cols
    ]
    parts = ['<div class="gv-panel">', f'<div class="gv-title">{escape(panel.title)}</div>']
    for name, labels in panel.sliders:
        parts.append(
            f'<div class="gv-ctrl"><label>{escape(name)} ({labels[0]}–{labels[-1]}): '
            f'<input type="range" class="gv-slider" min="0" max="{len(labels) - 1}" value="0"/>'
            f"<span>{labels[0]}</span></label></div>"
        )
    parts.append("<table><thead><tr><th></th>" + "".join(head) + "</tr>")
    if panel.col_dim is not None:
        sub = "".join(
            f"<th{' class=gv-sep' if k == 0 else ''}>{lab}</th>"
            for _ in panel.cols
            for k, lab in enumerate(panel.col_dim[1])
        )
        parts.append(f"<tr><th>{escape(panel.col_dim[0])}</th>{sub}</tr>")
    parts.append("</thead><tbody>")
    for r, row in enumerate(panel.rows):
        cells = "".join(
            _cell(first[r, c, k], f"{row} → {tok}" + (f" [{k}]" if panel.col_dim else ""), vmin, vmax, k == 0)
            for c, (_, tok) in enumerate(panel.cols)
            for k in range(width)
        )
        parts.append(f"<tr><th>{escape(display_token(row))}</th>{cells}</tr>")
    data = {
        "values": _json_values(panel.values),
        "sliders": [len(labels) for _, labels in panel.sliders],
        "starts": [int(labels[0]) for _, labels in panel.sliders],
        "per_cell": int(np.prod([len(labels) for _, labels in panel.sliders], dtype=np.int64)),
        "vmin": vmin,
        "vmax": vmax,
    }
    payload = json.dumps(data, allow_nan=False).replace("</", "<\\/")
    parts.append(
        f'</tbody></table><div class="gv-read"></div><script type="application/json" class="gv-data">{payload}</script></div>'
    )
    return "".join(parts)


def granular_view_html(
    panels_per_example: list[list[GranularPanel]],
    min_val: float,
    max_val: float,
    info: Mapping[str, Any] | None = None,
) -> str:
    """Self-contained HTML of the granular view for every example (one legend, one small script)."""
    scope = uid()
    gradient = [f"rgb{blue_to_red(v, 0.0, 1.0)}" for v in (0.0, 0.5, 1.0)]
    parts = [f'<div class="inseq-gv" id="{scope}"><style>{_CSS}</style>', metadata_html(info)]
    parts.append(legend_html(min_val, max_val, gradient, "Attribution (hover a cell for its value)"))
    for idx, panels in enumerate(panels_per_example):
        parts.append(f'<div class="gv-example" data-example="{idx}"><b>{idx}:</b>')
        parts.extend(_panel_html(p, min_val, max_val) for p in panels)
        parts.append("</div>")
    parts.append(f"<script>{_JS % {'id': scope}}</script></div>")
    return "".join(parts)


def panel_grid(panel: GranularPanel) -> ConsoleGrid:
    """Console layout of a panel's first slice: generated-token columns, split by the shown dimension."""
    first = panel.values.reshape(*panel.values.shape[:3], -1)[..., 0]
    width = first.shape[2]
    cols = [(str(pos) if width == 1 else f"{pos}.{k}", tok) for pos, tok in panel.cols for k in range(width)]
    cells = first.reshape(first.shape[0], -1).tolist()
    title = panel.title
    if panel.col_dim is not None:
        title += f" · columns: position.{panel.col_dim[0]}"
    if panel.sliders:
        title += " · " + ", ".join(
            f"{name} {labels[0]} (of {labels[0]}–{labels[-1]})" for name, labels in panel.sliders
        )
    rows = [(str(i), t) for i, t in enumerate(panel.rows)]
    return ConsoleGrid(title, CAPTION, rows, cols, cells, unit="columns", fmt=".2g")
