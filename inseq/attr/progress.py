"""Progress reporting for long attributions (a rich progress bar, silent when disabled or not in a terminal)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..data.batch import AttributionBatch


class _Tracker:
    def __init__(self, progress: Any, method: str) -> None:
        self.progress = progress
        self.method = method

    def track(self, batch: AttributionBatch) -> Callable[[int], None] | None:
        """A callback advancing a bar over the target positions of ``batch``."""
        if self.progress is None:
            return None
        total = batch.grid_end - batch.grid_start
        task = self.progress.add_task(f"Attributing with {self.method} ({batch.size} seq.)", total=total)
        return lambda n: self.progress.advance(task, n)


@contextmanager
def attribution_progress(show: bool, method: str) -> Iterator[_Tracker]:
    """Context yielding a tracker whose ``track(batch)`` gives a progress callback (or None when hidden)."""
    if not show:
        yield _Tracker(None, method)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn  # on first use

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True) as progress:
        yield _Tracker(progress, method)
