"""Rich console heatmaps (used outside notebooks).

Example:
    >>> from rich.console import Console
    >>> render_console(tables_per_example, -1.0, 1.0, Console(record=True))  # doctest: +SKIP
"""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.style import Style
from rich.table import Table
from rich.text import Text

from .heatmap import HeatmapTable, coolwarm_hex, is_nan

__all__ = ["console_table", "render_console"]

CAPTION = "→ : Generated tokens, ↓ : Attributed tokens"


def console_table(table: HeatmapTable, min_val: float, max_val: float) -> Table:
    """A rich ``Table`` with coloured scores (2 decimals), empty cells for NaN and step-score rows."""
    rich_table = Table(title=table.title, caption=CAPTION, box=box.HEAVY_HEAD, padding=(0, 1, 0, 1))
    rich_table.add_column(Text("", style="bold"))
    rich_table.add_column(Text("", style="bold"))
    for idx, token in table.col_tokens:
        rich_table.add_column(Text(f"{idx}\n{token}"), justify="center")
    for row_idx, (token, scores) in enumerate(zip(table.row_tokens, table.scores)):
        cells = [
            Text("") if is_nan(v) else Text(f"{v:.2f}", style=Style(color=coolwarm_hex(v, min_val, max_val)))
            for v in scores
        ]
        rich_table.add_row(Text(str(row_idx), style="bold"), Text(token, style="bold"), *cells)
    for name, values in table.step_scores.items():
        cells = [Text(f"{v:.2f}", style="bold" if abs(v) >= 0.5 else "") for v in values]
        rich_table.add_row(Text(""), Text(name, style="bold"), *cells)
    return rich_table


def render_console(
    tables_per_example: list[list[HeatmapTable]], min_val: float, max_val: float, console: Console | None = None
) -> None:
    """Print every example's heatmaps to ``console`` (a new default console when None)."""
    console = console or Console()
    for tables in tables_per_example:
        console.print("\n")
        for table in tables:
            console.print(console_table(table, min_val, max_val))
