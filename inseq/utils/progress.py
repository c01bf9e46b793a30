"""The one progress bar helper: a rich progress display, or nothing at all when hidden.

Attribution, evaluation, dataset runs and source attribution all show their progress through :func:`progress_bar`;
rich is imported only when a bar is shown.

Example:
    >>> with progress_bar(False) as bar:
    ...     advance = bar.task("Attributing", total=3)
    ...     advance(1)
    >>> bar.shown
    False
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class ProgressBar:
    """Tasks of one progress display (all no-ops when it is hidden).

    Attributes:
        shown: Whether a bar is displayed.
    """

    def __init__(self, progress: Any = None) -> None:
        self._progress = progress
        self.shown = progress is not None

    def task(self, description: str, total: float) -> Callable[..., None]:
        """Add a task of ``total`` units; returns ``advance(n, description=None)``, which moves it on by ``n``
        units (and changes its description when one is given)."""
        if self._progress is None:
            return _ignore
        progress = self._progress
        task = progress.add_task(description, total=total)

        def advance(n: float, description: str | None = None) -> None:
            if description is None:
                progress.advance(task, n)
            else:
                progress.update(task, advance=n, description=description)

        return advance


def _ignore(n: float, description: str | None = None) -> None:
    """The advance callback of a hidden bar."""


@contextmanager
def progress_bar(show: bool, transient: bool = True, elapsed: bool = False) -> Iterator[ProgressBar]:
    """A progress display for a block of work (rich, on the terminal), or a silent one when ``show`` is False.

    Args:
        show: Display the bar.
        transient: Remove the bar when the block ends.
        elapsed: Show the elapsed time instead of the remaining time.
    """
    if not show:
        yield ProgressBar()
        return
    from rich.progress import (  # on first use: `import inseq` stays light
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    clock = TimeElapsedColumn() if elapsed else TimeRemainingColumn()
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), clock, transient=transient
    ) as bar:
        yield ProgressBar(bar)
