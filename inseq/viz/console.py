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

from dataclasses import dataclass, field

from rich import box
from rich.console import Console
from rich.style import Style
from rich.table import Table
from rich.text import Text

from .heatmap import HeatmapTable, coolwarm_hex, display_token, is_nan

__all__ = ["CAPTION", "ConsoleGrid", "console_blocks", "console_table", "grid_from_table", "render_console"]

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
        unit: what a column is, for the hint line (``"generated tokens"``).
    """

    title: str
    caption: str
    rows: list[tuple[str, str]]
    cols: list[tuple[str, str]]
    cells: list[list[float]]
    extra_rows: dict[str, list[float]] = field(default_factory=dict)
    extra_cols: dict[str, list[float]] = field(default_factory=dict)
    unit: str = "generated tokens"


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


def _fmt(value: float) -> str:
    return "" if is_nan(value) else f"{value:.2f}"


def _col_widths(grid: ConsoleGrid) -> list[int]:
    widths = []
    for c, (idx, label) in enumerate(grid.cols):
        values = [_fmt(row[c]) for row in grid.cells] + [_fmt(v[c]) for v in grid.extra_rows.values()]
        widths.append(max(len(idx), min(len(display_token(label)), _MAX_COL), *(len(v) for v in values), 4))
    return widths


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
    for col, col_w in enumerate(_col_widths(grid)):
        if blocks[-1] and used + col_w + 3 > width:
            blocks.append([])
            used = fixed
        blocks[-1].append(col)
        used += col_w + 3
    return blocks if blocks[0] else []


def _cell(value: float, min_val: float, max_val: float) -> Text:
    if is_nan(value):
        return Text("")
    return Text(_fmt(value), style=Style(color=coolwarm_hex(value, min_val, max_val)))


def _step_cell(value: float) -> Text:
    return Text(_fmt(value), style="bold" if not is_nan(value) and abs(value) >= 0.5 else "")


def _block_table(grid: ConsoleGrid, cols: list[int], title: str, min_val: float, max_val: float, width: int) -> Table:
    idx_w, label_w, extra_w = _fixed_widths(grid, width)
    col_w = _col_widths(grid)
    table = Table(title=title, caption=grid.caption, box=box.HEAVY_HEAD, padding=(0, 1, 0, 1))
    table.add_column(Text("", style="bold"), width=idx_w, overflow="fold")
    table.add_column(Text("", style="bold"), width=label_w, overflow="fold")
    for c in cols:
        idx, label = grid.cols[c]
        table.add_column(Text(f"{idx}\n{display_token(label)}"), justify="center", width=col_w[c], overflow="fold")
    for name, w in zip(grid.extra_cols, extra_w):
        table.add_column(Text(name, style="bold"), justify="center", width=w, overflow="fold")
    for r, (idx, label) in enumerate(grid.rows[: _rows_shown(grid, cols)]):
        cells = [_cell(grid.cells[r][c], min_val, max_val) for c in cols]
        extra = [_step_cell(values[r]) for values in grid.extra_cols.values()]
        table.add_row(Text(idx, style="bold"), Text(display_token(label), style="bold"), *cells, *extra)
    for name, values in grid.extra_rows.items():
        table.add_row(Text(""), Text(name, style="bold"), *[_step_cell(values[c]) for c in cols])
    return table


def _rows_shown(grid: ConsoleGrid, cols: list[int]) -> int:
    """Number of rows to print for a block: trailing rows that are empty in every column of it are left out."""
    if grid.extra_cols or not cols:
        return len(grid.rows)
    n_rows = len(grid.rows)
    while n_rows > 0 and all(is_nan(grid.cells[n_rows - 1][c]) for c in cols):
        n_rows -= 1
    return n_rows


def console_table(table: HeatmapTable, min_val: float, max_val: float, width: int = 10_000) -> Table:
    """One rich ``Table`` with every column of ``table`` (no splitting; see :func:`render_grid` for blocks)."""
    grid = grid_from_table(table)
    return _block_table(grid, list(range(len(grid.cols))), table.title, min_val, max_val, width)


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
        console.print(_block_table(grid, [], grid.title, min_val, max_val, console.width))
        return 1
    for cols in blocks:
        title = grid.title
        if len(blocks) > 1:
            first, last = grid.cols[cols[0]][0], grid.cols[cols[-1]][0]
            title = f"{grid.title} · {grid.unit} {first}–{last} ({len(grid.cols)} in all)"
        console.print(_block_table(grid, cols, title, min_val, max_val, console.width))
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
