"""Merging a dataset run: the ranks' shard manifests into ``manifest.json``, the row files into one output.

Rank 0 does it at the end of a parallel run; ``inseq merge-dataset DIR`` does it for a run that was interrupted
before (its rows recorded in ``shards/``). The merged output is the one a single process would have written: the
rows in index order, whatever rank attributed them.

Example:
    >>> result = merge_dataset("runs/gpt2", save_path="runs/gpt2.json")  # doctest: +SKIP
    >>> result.done, result.total, result.finished  # doctest: +SKIP
    (24, 24, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .attribution import PipelineError
from .manifest import SHARDS_DIR, Manifest, shard_manifests

if TYPE_CHECKING:
    from ..data import FeatureAttributionOutput

__all__ = ["MergeResult", "consolidate_run", "merge_dataset", "merge_rows"]


@dataclass
class MergeResult:
    """Outcome of :func:`merge_dataset`.

    Attributes:
        folder: The run folder.
        total: Rows in the dataset.
        done: Rows attributed.
        skipped: Row index -> reason.
        finished: Whether every row is done or skipped.
        save_path: Where the merged rows were saved (None when not saved).
        shards: Number of shard manifests merged into ``manifest.json``.

    Example:
        >>> MergeResult(folder="runs/gpt2", total=3, done=2, skipped={1: "empty input text"}).finished
        False
    """

    folder: str
    total: int
    done: int
    skipped: dict[int, str] = field(default_factory=dict)
    finished: bool = False
    save_path: str | None = None
    shards: int = 0


def consolidate_run(folder: Path) -> tuple[Manifest, int]:
    """Merge the shard manifests of ``folder`` into its ``manifest.json`` (atomically), then remove them.

    Returns:
        The merged manifest and the number of shard manifests merged.

    Raises:
        PipelineError: No manifest in ``folder``, a corrupt one, or a shard of another run.
    """
    from .manifest import check_same_run

    folder = Path(folder)
    main = Manifest.load(folder)
    if main is None:
        raise PipelineError(
            f"{folder} has no manifest.json: it is not the output_dir (--output_dir) of a dataset run."
        )
    shards = shard_manifests(folder)
    for shard in shards:
        check_same_run(shard, main.signature, main.dataset)
        main.add(shard)
    main.finished = all(i in main.done or i in main.skipped for i in range(main.total_rows))
    main.save()  # first the merged manifest, then the shards go: a crash in between loses nothing
    for shard in shards:
        shard.path.unlink(missing_ok=True)
    for status in (folder / SHARDS_DIR).glob("status-*.json"):
        status.unlink(missing_ok=True)
    return main, len(shards)


def merge_rows(manifest: Manifest) -> FeatureAttributionOutput | None:
    """The attributed rows of a run merged in index order (None when no row is done).

    Raises:
        PipelineError: A row file listed in the manifest is missing.
    """
    from ..data import FeatureAttributionOutput, merge_attributions

    parts = []
    for index in sorted(manifest.done):
        path = manifest.folder / manifest.done[index]
        if not path.is_file():
            raise PipelineError(
                f"row {index}: {path} is listed in {manifest.path} but missing; move the manifest entry away or "
                "resume the run to attribute it again."
            )
        parts.append(FeatureAttributionOutput.load(path))
    return merge_attributions(parts) if parts else None


def merge_dataset(folder: str | Path, save_path: str | None = None, partial: bool = False) -> MergeResult:
    """Merge an (interrupted) parallel run: shard manifests into ``manifest.json``, rows into ``save_path``.

    Args:
        folder: The run's ``output_dir``.
        save_path: Where to save the merged rows (default: the run's own ``save_path``, if it had one).
        partial: Also save the merged rows of an unfinished run (otherwise only a finished run is saved).

    Returns:
        A :class:`MergeResult`.

    Raises:
        PipelineError: Not a run folder, a corrupt or foreign manifest, a missing row file.

    Example:
        >>> merge_dataset("runs/gpt2", save_path="runs/gpt2.json").finished  # doctest: +SKIP
        True
    """
    manifest, n_shards = consolidate_run(Path(folder))
    target = save_path or manifest.save_path
    saved = None
    if target and (manifest.finished or partial):
        merged = merge_rows(manifest)
        if merged is not None:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            merged.save(target, overwrite=True)
            saved = str(target)
    return MergeResult(
        folder=str(folder),
        total=manifest.total_rows,
        done=len(manifest.done),
        skipped=dict(sorted(manifest.skipped.items())),
        finished=manifest.finished,
        save_path=saved,
        shards=n_shards,
    )
