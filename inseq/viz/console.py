"""Rich console heatmaps (used outside notebooks) that stay readable at any length.

A heatmap wider than the terminal is split into blocks of generated-token columns; each block repeats the attributed
tokens and keeps its step-score rows. When the attributed tokens fit on one screen but the generated tokens do not
(a short source and a long generation), the table is transposed instead. Labels wrap (fold) rather than being cut.

Example:
    >>> import io
    >>> from rich.console import Console
    >>> from inseq.viz.heatmap import HeatmapTable
    >>> con = Console(width=80, record=True, file=io.StringIO())
    >>> table = HeatmapTable("Source Saliency Heatmap", ["a", "b"], [(0, "x")], [[0.5], [0.25]])
    >>> render_console([[table]], -1.0, 1.0, con)
    >>> "0.50" in con.export_text()
    True
"""

from __future__ import annotations

import functools
import textwrap
from dataclasses import dataclass, field
from typing import Any

from rich.cells import cell_len, chop_cells
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

from .heatmap import HeatmapTable, coolwarm_hex, display_token, is_nan

__all__ = [
    "CAPTION",
    "ConsoleGrid",
    "HeatmapBlock",
    "console_blocks",
    "grid_from_table",
    "render_console",
    "render_grid",
]

CAPTION = "→ : Generated tokens, ↓ : Attributed tokens"
CAPTION_T = "↓ : Generated tokens, → : Attributed tokens"
_MAX_COL = 10  # widest generated-token column (longer labels fold onto more lines)
_MAX_LABEL = 16  # widest attributed-token label column


@dataclass
class ConsoleGrid:
    """A heatmap laid out for the console: ``cells[row][col]`` plus step scores as extra rows or columns.

    Attributes:
        title: table title.
        caption: axis legend printed below each block.
        rows: ``(index, label)`` of each row.
        cols: ``(index, label)`` of each column.
        cells: ``[len(rows)][len(cols)]`` scores (NaN for empty cells).
        extra_rows: ``{name: [value per column]}`` (step scores, normal orientation).
        extra_cols: ``{name: [value per row]}`` (step scores, transposed orientation).
        unit: what a column is, for the block titles (``"generated tokens"``).
        fmt: format of the cell values (``".2f"``, as inseq; the granular view uses ``".2g"`` for raw scores).
    """

    title: str
    caption: str
    rows: list[tuple[str, str]]
    cols: list[tuple[str, str]]
    cells: list[list[float]]
    extra_rows: dict[str, list[float]] = field(default_factory=dict)
    extra_cols: dict[str, list[float]] = field(default_factory=dict)
    unit: str = "generated tokens"
    fmt: str = ".2f"

    @functools.cached_property
    def col_widths(self) -> list[int]:
        """Content width of each column: its value strings and up to ``_MAX_COL`` characters of its label."""
        widths = []
        for c, (idx, label) in enumerate(self.cols):
            values = [_fmt(row[c], self.fmt) for row in self.cells] + [_fmt(v[c]) for v in self.extra_rows.values()]
            widths.append(max(len(idx), min(len(display_token(label)), _MAX_COL), *(len(v) for v in values), 4))
        return widths


def grid_from_table(table: HeatmapTable, transpose: bool = False) -> ConsoleGrid:
    """Console layout of a :class:`HeatmapTable`; ``transpose`` puts generated tokens on the rows."""
    rows = [(str(i), tok) for i, tok in enumerate(table.row_tokens)]
    cols = [(str(i), tok) for i, tok in table.col_tokens]
    if not transpose:
        return ConsoleGrid(table.title, CAPTION, rows, cols, table.scores, extra_rows=dict(table.step_scores))
    cells = [[table.scores[r][c] for r in range(len(rows))] for c in range(len(cols))]
    title = f"{table.title} (transposed)"
    return ConsoleGrid(
        title, CAPTION_T, cols, rows, cells, extra_cols=dict(table.step_scores), unit="attributed tokens"
    )


def _fmt(value: float, fmt: str = ".2f") -> str:
    return "" if is_nan(value) else format(value, fmt)


def _fixed_widths(grid: ConsoleGrid, width: int) -> tuple[int, int, list[int]]:
    """Widths of the index column, the label column and the step-score columns (transposed)."""
    idx_w = max([len(i) for i, _ in grid.rows] + [1])
    labels = [display_token(t) for _, t in grid.rows] + list(grid.extra_rows)
    label_w = min(max([len(t) for t in labels] + [4]), _MAX_LABEL)
    extra_w = [max(min(len(n), _MAX_COL + 2), *(len(_fmt(v)) for v in vals), 4) for n, vals in grid.extra_cols.items()]
    # leave room for at least one score column of 7 characters (5 + padding) on narrow terminals
    spare = width - (idx_w + 3) - sum(w + 3 for w in extra_w) - 1 - 8
    label_w = max(4, min(label_w, spare - 3))
    return idx_w, label_w, extra_w


def console_blocks(grid: ConsoleGrid, width: int) -> list[list[int]]:
    """Split the column indices of ``grid`` into consecutive blocks that fit in ``width`` characters.

    Every block holds at least one column, so nothing is ever dropped (a very narrow terminal wraps instead).
    """
    idx_w, label_w, extra_w = _fixed_widths(grid, width)
    fixed = 1 + (idx_w + 3) + (label_w + 3) + sum(w + 3 for w in extra_w)
    blocks: list[list[int]] = [[]]
    used = fixed
    for col, col_w in enumerate(grid.col_widths):
        if blocks[-1] and used + col_w + 3 > width:
            blocks.append([])
            used = fixed
        blocks[-1].append(col)
        used += col_w + 3
    return blocks if blocks[0] else []


_Cell = tuple[str, Style | None]
_BOLD = Style(bold=True)


def _cell(value: float, min_val: float, max_val: float, fmt: str, styles: dict[str, Style]) -> _Cell:
    """Formatted value coloured on coolwarm; ``styles`` caches one ``Style`` per colour (200 at most)."""
    if is_nan(value):
        return "", None
    color = coolwarm_hex(value, min_val, max_val)
    if color not in styles:
        styles[color] = Style(color=color)
    return _fmt(value, fmt), styles[color]


def _step_cell(value: float) -> _Cell:
    return _fmt(value), _BOLD if not is_nan(value) and abs(value) >= 0.5 else None


def _fold(text: str, width: int) -> list[str]:
    """Lines of at most ``width`` cells: word-wrapped when the text has spaces, else cut every ``width`` cells."""
    if cell_len(text) <= width:
        return [text]
    if " " in text.strip():
        return textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False) or [""]
    return chop_cells(text, width)


class HeatmapBlock:
    """A rich renderable drawing one block of a :class:`ConsoleGrid` as a heavy-head table.

    It yields segments directly (no per-cell layout pass), which keeps 200 x 200 heatmaps fast to print. The look
    follows inseq's rich table: box ``HEAVY_HEAD``, one space of padding, bold headers and labels, italic title.
    """

    def __init__(self, grid: ConsoleGrid, cols: list[int], title: str, min_val: float, max_val: float, width: int):
        self.grid, self.cols, self.title = grid, cols, title
        self.min_val, self.max_val = min_val, max_val
        idx_w, label_w, extra_w = _fixed_widths(grid, width)
        self.widths = [idx_w, label_w, *(grid.col_widths[c] for c in cols), *extra_w]
        self.center = [False, False] + [True] * (len(self.widths) - 2)

    @property
    def table_width(self) -> int:
        return sum(w + 3 for w in self.widths) + 1

    def _header(self) -> list[list[str]]:
        grid, cols = self.grid, self.cols
        heads = [[""], [""]]
        heads += [[grid.cols[c][0], *_fold(display_token(grid.cols[c][1]), w)] for c, w in zip(cols, self.widths[2:])]
        heads += [_fold(name, w) for name, w in zip(grid.extra_cols, self.widths[2 + len(cols) :])]
        return heads

    def _body(self) -> list[list[_Cell]]:
        grid, cols = self.grid, self.cols
        rows, styles = [], {}
        for r, (idx, label) in enumerate(grid.rows[: _rows_shown(grid, cols)]):
            cells = [(idx, _BOLD), (display_token(label), _BOLD)]
            cells += [_cell(grid.cells[r][c], self.min_val, self.max_val, grid.fmt, styles) for c in cols]
            rows.append(cells + [_step_cell(values[r]) for values in grid.extra_cols.values()])
        for name, values in grid.extra_rows.items():
            rows.append([("", None), (name, _BOLD), *[_step_cell(values[c]) for c in cols]])
        return rows

    def _line(self, cells: list[_Cell], edge: str, sep: str) -> list[list[Segment]]:
        """Segments of one table row (several lines when a cell folds)."""
        folded = [
            [p for piece in text.split("\n") for p in _fold(piece, w)] for (text, _), w in zip(cells, self.widths)
        ]
        lines = []
        for k in range(max(len(f) for f in folded)):
            segs = [Segment(edge)]
            for (_, style), parts, w, center in zip(cells, folded, self.widths, self.center):
                part = parts[k] if k < len(parts) else ""
                pad = w - cell_len(part)
                left = pad // 2 if center else 0
                segs += [
                    Segment(" " * (left + 1)),
                    Segment(part, style),
                    Segment(" " * (pad - left + 1)),
                    Segment(sep),
                ]
            segs[-1] = Segment(edge)
            lines.append(segs)
        return lines

    def _rule(self, left: str, fill: str, mid: str, right: str) -> list[Segment]:
        return [Segment(left + mid.join(fill * (w + 2) for w in self.widths) + right)]

    def _centered(self, text: str, style: Style) -> list[list[Segment]]:
        width = self.table_width
        return [[Segment(line.center(width).rstrip(), style)] for line in _fold(text, width)]

    def __rich_console__(self, console: Console, options: Any) -> Any:
        lines = self._centered(self.title, Style(italic=True)) if self.title else []
        lines.append(self._rule("┏", "━", "┳", "┓"))
        for line in self._line([(h, _BOLD) for h in ["\n".join(x) for x in self._header()]], "┃", "┃"):
            lines.append(line)
        lines.append(self._rule("┡", "━", "╇", "┩"))
        for row in self._body():
            lines.extend(self._line(row, "│", "│"))
        lines.append(self._rule("└", "─", "┴", "┘"))
        lines.extend(self._centered(self.grid.caption, Style(dim=True, italic=True)))
        for line in lines:
            yield from line
            yield Segment.line()


def _rows_shown(grid: ConsoleGrid, cols: list[int]) -> int:
    """Number of rows to print for a block: trailing rows that are empty in every column of it are left out."""
    if grid.extra_cols or not cols:
        return len(grid.rows)
    n_rows = len(grid.rows)
    while n_rows > 0 and all(is_nan(grid.cells[n_rows - 1][c]) for c in cols):
        n_rows -= 1
    return n_rows


def _should_transpose(table: HeatmapTable, width: int) -> bool:
    """Transpose when the generated tokens need several blocks but the attributed tokens fit in fewer."""
    normal = len(console_blocks(grid_from_table(table), width))
    if normal <= 1 or not table.row_tokens:
        return False
    return len(console_blocks(grid_from_table(table, transpose=True), width)) < normal


def render_grid(grid: ConsoleGrid, min_val: float, max_val: float, console: Console) -> int:
    """Print ``grid`` as one table per column block; returns the number of blocks."""
    blocks = console_blocks(grid, console.width)
    if not blocks:  # no columns (e.g. no generated tokens): print the bare table
        console.print(HeatmapBlock(grid, [], grid.title, min_val, max_val, console.width))
        return 1
    for cols in blocks:
        title = grid.title
        if len(blocks) > 1:
            first, last = grid.cols[cols[0]][0], grid.cols[cols[-1]][0]
            title = f"{grid.title} · {grid.unit} {first}–{last} ({len(grid.cols)} in all)"
        console.print(HeatmapBlock(grid, cols, title, min_val, max_val, console.width))
    return len(blocks)


def render_console(
    tables_per_example: list[list[HeatmapTable]],
    min_val: float,
    max_val: float,
    console: Console | None = None,
    transpose: bool | None = None,
) -> None:
    """Print every example's heatmaps to ``console`` (a new default console when None).

    Args:
        tables_per_example: heatmap tables of each example (see :func:`inseq.viz.heatmap.build_tables`).
        min_val: lower end of the colour scale.
        max_val: upper end of the colour scale.
        console: where to print.
        transpose: put generated tokens on the rows (True), never (False) or when it needs fewer blocks (None).
    """
    console = console or Console()
    split = False
    for tables in tables_per_example:
        console.print("\n")
        for table in tables:
            flip = _should_transpose(table, console.width) if transpose is None else transpose
            n_blocks = render_grid(grid_from_table(table, transpose=flip), min_val, max_val, console)
            split = split or n_blocks > 1 or flip
    if split:
        console.print(
            Text(
                f"The heatmaps were split or transposed to fit {console.width} columns. Full view: "
                "out.show(return_html=True) (open the HTML in a browser) or out.plot() / out.save_plots(folder).",
                style="italic",
            )
        )
