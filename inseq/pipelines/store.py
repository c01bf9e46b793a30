"""Where a dataset run keeps its rows: the run folder (row files and manifests, per rank in a parallel run) or memory.

:func:`open_store` checks the run folder (rank 0 only; the other ranks wait for its verdict) and gives each process
its :class:`RowStore`; :func:`finish_store` records the end of the run, and in a parallel run waits for every rank
before rank 0 merges the shard manifests into ``manifest.json``.

Example:
    >>> store = open_store(None, {}, {"rows": 2}, 2, DatasetRunArgs(), Shard())  # doctest: +SKIP
    >>> store.has(0)  # doctest: +SKIP
    False
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .args import DatasetRunArgs
from .attribution import PipelineError
from .manifest import (
    ROWS_DIR,
    Manifest,
    open_manifest,
    shard_manifest_path,
    shard_manifests,
    shard_status_path,
    write_json_atomic,
)
from .merge import consolidate_run, merge_rows
from .rows import DatasetRow
from .sharding import Shard
from .validation import clean_run_temps

if TYPE_CHECKING:
    from ..data import FeatureAttributionOutput

__all__ = ["RowStore", "RunTotals", "finish_store", "open_store"]


class RowStore:
    """Where attributed rows go: one file per row in the run folder, or memory.

    In a parallel run ``manifest`` is this rank's shard manifest and ``others`` holds what the other manifests of
    the folder (other ranks, earlier runs with another world size) recorded: those rows are not attributed again.
    """

    def __init__(self, manifest: Manifest | None, others: Manifest | None = None, shard: Shard | None = None) -> None:
        self.manifest = manifest
        self.others = others
        self.shard = shard or Shard()
        self.done: dict[int, str] = manifest.done if manifest else {}
        self.skipped: dict[int, str] = manifest.skipped if manifest else {}
        self.lines: dict[int, int] = manifest.lines if manifest else {}
        self.memory: dict[int, FeatureAttributionOutput] = {}

    def has(self, index: int) -> bool:
        """Whether the row is already done or skipped (by this process or another)."""
        recorded = index in self.done or index in self.skipped
        return recorded or (self.others is not None and (index in self.others.done or index in self.others.skipped))

    def put(self, index: int, part: FeatureAttributionOutput) -> None:
        """Store one attributed row (atomic file write)."""
        if self.manifest is None:
            self.memory[index] = part
            self.done[index] = ""
            return
        name = f"{ROWS_DIR}/row_{index:07d}.json"
        part.save(self.manifest.folder / name, overwrite=True)
        self.done[index] = name

    def skip(self, row: DatasetRow, reason: str) -> None:
        """Record a skipped row."""
        self.skipped[row.index] = reason
        if row.line is not None:
            self.lines[row.index] = row.line

    def owned(self) -> tuple[dict[int, str], dict[int, str], dict[int, int]]:
        """This process's rows recorded so far, by anyone: done (index -> file), skipped, lines of the skipped."""
        done, skipped, lines = dict(self.done), dict(self.skipped), dict(self.lines)
        if self.others is not None:
            done.update({k: v for k, v in self.others.done.items() if self.shard.owns(k)})
            skipped.update({k: v for k, v in self.others.skipped.items() if self.shard.owns(k) and k not in done})
            lines.update({k: v for k, v in self.others.lines.items() if k in skipped})
        return done, dict(sorted(skipped.items())), dict(sorted(lines.items()))

    def checkpoint(self) -> None:
        """Persist the progress (manifest rewrite; in a parallel run also this rank's row counts)."""
        if self.manifest is not None:
            self.manifest.save()
            if self.shard.parallel:
                done, skipped, _ = self.owned()
                status = {"rank": self.shard.rank, "done": len(done), "skipped": len(skipped)}
                write_json_atomic(
                    shard_status_path(self.manifest.folder, self.shard.rank, self.shard.world_size), status
                )

    def merged(self) -> FeatureAttributionOutput | None:
        """All attributed rows merged in index order (None when there is none)."""
        from ..data import merge_attributions

        if self.manifest is not None:
            return merge_rows(self.manifest)
        parts = [self.memory[index] for index in sorted(self.done) if index in self.memory]
        return merge_attributions(parts) if parts else None


def _union(folder: Path, manifests: list[Manifest]) -> Manifest:
    union = Manifest(folder, {}, 0, path=folder / "(union)")
    for manifest in manifests:
        union.add(manifest)
    return union


def _check_folder(
    folder: Path,
    signature: dict[str, Any],
    dataset: dict[str, Any],
    total: int,
    run_args: DatasetRunArgs,
    shard: Shard,
    save_path: str | None,
) -> None:
    """Rank 0's checks and set-up of the run folder (a single process also merges earlier shards in)."""
    manifest = open_manifest(folder, signature, total, run_args.resume, run_args.overwrite, dataset)
    clean_run_temps(folder)
    if save_path and manifest.save_path != save_path:
        manifest.save_path = save_path
        manifest.save()
    if not shard.parallel:
        consolidate_run(folder)


def open_store(
    folder: Path | None,
    signature: dict[str, Any],
    dataset: dict[str, Any],
    total: int,
    run_args: DatasetRunArgs,
    shard: Shard,
    save_path: str | None = None,
) -> RowStore:
    """This process's row store, once rank 0 has checked the run folder (the others get its error, if any).

    Raises:
        PipelineError: The folder holds another run, an unfinished one without ``resume``, or a corrupt manifest;
            a parallel run without a folder.
    """
    if folder is None:
        if shard.parallel:
            raise PipelineError(
                f"a parallel run ({shard.label}) keeps its rows in files: pass output_dir (--output_dir) or "
                "save_path (--save_path)."
            )
        return RowStore(None)
    error = None
    if shard.rank == 0:
        try:
            _check_folder(folder, signature, dataset, total, run_args, shard, save_path)
        except PipelineError as err:
            error = str(err)
    error = shard.from_rank0(error)
    if error is not None:
        raise PipelineError(error if shard.rank == 0 else f"{error} (reported by rank 0)")
    main = Manifest.load(folder)
    if main is None:  # rank 0 writes it before the others read it: only a folder removed meanwhile gets here
        raise PipelineError(
            f"{folder / 'manifest.json'} disappeared while the run started ({shard.label or 'rank 0'})."
        )
    if not shard.parallel:
        return RowStore(main, None, shard)
    path = shard_manifest_path(folder, shard.rank, shard.world_size)
    mine = Manifest.load(folder, path) or Manifest(folder, main.signature, total, path)
    mine.dataset, mine.total_rows = main.dataset, total
    others = [main] + [m for m in shard_manifests(folder) if m.path != path]
    store = RowStore(mine, _union(folder, others), shard)
    store.checkpoint()
    return store


@dataclass
class RunTotals:
    """The whole run's counts, known to every rank after the merge.

    Attributes:
        total: Rows in the dataset.
        done: Rows attributed.
        skipped: Rows skipped.
        finished: Whether every row is done or skipped.
    """

    total: int
    done: int
    skipped: int
    finished: bool


def finish_store(
    store: RowStore, total: int, merge: bool, save_path: str | None
) -> tuple[RunTotals, FeatureAttributionOutput | None]:
    """Record the end of this process's part; in a parallel run, wait for all ranks, then rank 0 merges.

    Returns:
        The run's totals and, on rank 0 when the run is finished and ``merge`` is set, the merged rows.
    """
    shard, merged, totals = store.shard, None, None
    if store.manifest is not None and shard.parallel:
        store.checkpoint()
        shard.barrier()
    if shard.rank == 0:
        if store.manifest is not None:
            manifest = consolidate_run(store.manifest.folder)[0] if shard.parallel else store.manifest
            done, skipped = manifest.done, manifest.skipped
        else:
            done, skipped = store.done, store.skipped
        finished = all(i in done or i in skipped for i in range(total))
        if store.manifest is not None and not shard.parallel:
            store.manifest.finished = finished
            store.manifest.save()
        if finished and merge:
            merged = merge_rows(manifest) if shard.parallel else store.merged()
        if merged is not None and save_path:
            Path(save_path).parent.mkdir(parents=True, exist_ok=True)
            merged.save(save_path, overwrite=True)
        totals = RunTotals(total, len(done), len(skipped), finished)
    totals = shard.from_rank0(totals)
    return totals, merged
