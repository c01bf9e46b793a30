"""The manifest of a resumable dataset run: rows done (with their files), rows skipped (with reason and line).

Every write is atomic (:func:`inseq.data.files.atomic_write_text`): an interrupted run leaves either the previous
manifest or the new one, never a truncated file. In a parallel run each rank records its rows in its own shard
manifest (``shards/manifest-w<world size>-r<rank>.json``); rank 0 merges them into ``manifest.json`` at the end
(:mod:`inseq.pipelines.merge`).

Example:
    >>> manifest = Manifest(Path("runs/gpt2"), signature={"model_name_or_path": "gpt2"}, total_rows=3)  # doctest: +SKIP
    >>> manifest.save()  # doctest: +SKIP
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..data.files import atomic_write_text
from .args import AttributeExtendedArgs, LoadDatasetArgs
from .attribution import PipelineError
from .validation import read_manifest

MANIFEST_NAME = "manifest.json"
ROWS_DIR = "rows"
SHARDS_DIR = "shards"

#: Options that must not change between an interrupted run and its resumption.
SIGNATURE_KEYS = (
    "model_name_or_path",
    "attribution_method",
    "attributed_fn",
    "step_scores",
    "attribute_target",
    "start_pos",
    "end_pos",
    "generation_kwargs",
    "attribution_kwargs",
    "attribution_aggregators",
    "attribution_selectors",
    "normalize_attributions",
    "rescale_attributions",
    "include_eos_baseline",
)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to ``path`` atomically (with :func:`inseq.data.files.atomic_write_text`)."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True))


def shard_manifest_path(folder: Path, rank: int, world_size: int) -> Path:
    """The manifest of rank ``rank`` of ``world_size`` processes in a parallel run."""
    return Path(folder) / SHARDS_DIR / f"manifest-w{world_size}-r{rank}.json"


def shard_status_path(folder: Path, rank: int, world_size: int) -> Path:
    """The small progress file of a rank (row counts only), read by rank 0 for the progress of all ranks."""
    return Path(folder) / SHARDS_DIR / f"status-w{world_size}-r{rank}.json"


def run_signature(args: AttributeExtendedArgs, data: LoadDatasetArgs) -> dict[str, Any]:
    """The options that must not change between an interrupted run and its resumption."""
    sig = {k: getattr(args, k) for k in SIGNATURE_KEYS}
    model = sig["model_name_or_path"]
    sig["model_name_or_path"] = str(getattr(model, "model_name", model))
    sig.update({k: v for k, v in asdict(data).items() if k != "dataset_auth_token"})
    return json.loads(json.dumps(sig, default=str))


class Manifest:
    """Progress of a dataset run.

    Attributes:
        folder: The run folder.
        signature: :func:`run_signature` of the run.
        total_rows: Number of rows in the dataset.
        done: Row index -> row file (relative to ``folder``; empty when kept in memory).
        skipped: Row index -> reason.
        lines: Row index -> line in the dataset file, for the skipped rows whose line is known.
        finished: Whether every row is done or skipped.
        dataset: What identifies the input (:func:`~inseq.pipelines.streams.dataset_fingerprint`), None if unknown.
        save_path: Where the merged rows go when the run is finished (``inseq merge-dataset`` uses it).
        path: The manifest file (``manifest.json``, or a shard manifest).
    """

    def __init__(self, folder: Path, signature: dict[str, Any], total_rows: int, path: Path | None = None) -> None:
        self.folder = Path(folder)
        self.path = Path(path) if path is not None else self.folder / MANIFEST_NAME
        self.signature = signature
        self.total_rows = total_rows
        self.done: dict[int, str] = {}
        self.skipped: dict[int, str] = {}
        self.lines: dict[int, int] = {}
        self.finished = False
        self.dataset: dict[str, Any] | None = None
        self.save_path: str | None = None

    @classmethod
    def load(cls, folder: Path, path: Path | None = None) -> Manifest | None:
        """Read the manifest of ``folder`` (or the shard manifest ``path``); None when there is none.

        Raises:
            PipelineError: The file is corrupt (naming it).
        """
        path = Path(path) if path is not None else Path(folder) / MANIFEST_NAME
        if not path.exists():
            return None
        data = read_manifest(path, shard=path.parent.name == SHARDS_DIR)
        manifest = cls(Path(folder), data["signature"], data["total_rows"], path)
        manifest.done = {int(k): v for k, v in data["done"].items()}
        manifest.skipped = {int(k): v for k, v in data["skipped"].items()}
        manifest.lines = {int(k): int(v) for k, v in data.get("lines", {}).items()}
        manifest.finished = data["finished"]
        manifest.dataset = data.get("dataset")
        manifest.save_path = data.get("save_path")
        return manifest

    def save(self) -> None:
        """Rewrite the manifest atomically."""
        write_json_atomic(
            self.path,
            {
                "signature": self.signature,
                "total_rows": self.total_rows,
                "dataset": self.dataset,
                "save_path": self.save_path,
                "done": {str(k): v for k, v in sorted(self.done.items())},
                "skipped": {str(k): v for k, v in sorted(self.skipped.items())},
                "lines": {str(k): v for k, v in sorted(self.lines.items())},
                "finished": self.finished,
                "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
            },
        )

    def add(self, other: Manifest) -> None:
        """Take in the rows recorded by ``other`` (a shard manifest of the same run)."""
        self.done.update(other.done)
        self.skipped.update({k: v for k, v in other.skipped.items() if k not in self.done})
        self.lines.update({k: v for k, v in other.lines.items() if k in self.skipped})
        for index in self.done:
            self.skipped.pop(index, None)
            self.lines.pop(index, None)

    def recorded(self) -> set[int]:
        """Indices of the rows done or skipped."""
        return set(self.done) | set(self.skipped)


def shard_manifests(folder: Path) -> list[Manifest]:
    """The shard manifests of a run folder (parallel runs), in file name order.

    Raises:
        PipelineError: A shard manifest is corrupt (naming the file).
    """
    shards = sorted((Path(folder) / SHARDS_DIR).glob("manifest-w*-r*.json"))
    return [m for m in (Manifest.load(folder, path) for path in shards) if m is not None]


def _changed(previous: dict[str, Any], current: dict[str, Any]) -> str:
    keys = sorted(k for k in set(previous) | set(current) if previous.get(k) != current.get(k))
    return ", ".join(f"{k}: {previous.get(k)!r} -> {current.get(k)!r}" for k in keys)


def check_same_run(manifest: Manifest, signature: dict[str, Any], dataset: dict[str, Any] | None) -> None:
    """Refuse a manifest written by another run: other options or another input.

    Raises:
        PipelineError: naming the manifest file and each difference.
    """
    if manifest.signature != signature:
        raise PipelineError(
            f"{manifest.path} belongs to a run with other options ({_changed(manifest.signature, signature)}); pass "
            "overwrite=True (--overwrite) to discard it or choose another output_dir (--output_dir)."
        )
    if dataset is not None and manifest.dataset is not None and manifest.dataset != dataset:
        raise PipelineError(
            f"{manifest.path} belongs to a run on another input ({_changed(manifest.dataset, dataset)}): the dataset "
            "changed since the run started; pass overwrite=True (--overwrite) to start again on it or choose another "
            "output_dir (--output_dir)."
        )


def open_manifest(
    folder: Path,
    signature: dict[str, Any],
    total_rows: int,
    resume: bool,
    overwrite: bool,
    dataset: dict[str, Any] | None = None,
) -> Manifest:
    """The manifest to continue (``resume``), a fresh one, or an error for a run that must not be mixed up.

    Shard manifests of a parallel run are checked too (same options, same input); ``overwrite`` removes them.

    Raises:
        PipelineError: The folder holds a run with other options or another input, a corrupt manifest, or an
            unfinished run without ``resume``.
    """
    previous = Manifest.load(folder)
    shards = shard_manifests(folder) if not overwrite else []
    manifest = Manifest(folder, signature, total_rows)
    if previous is not None and not overwrite:
        check_same_run(previous, signature, dataset)
        if not previous.finished and not resume:
            done = len(previous.done | {k: "" for s in shards for k in s.done})
            raise PipelineError(
                f"{folder} holds an unfinished run ({done}/{previous.total_rows} rows done); pass "
                "resume=True (--resume) to continue it or overwrite=True (--overwrite) to start again."
            )
        manifest = previous
    for shard in shards:
        check_same_run(shard, signature, dataset)
    if overwrite:
        for stale in (folder / SHARDS_DIR).glob("*.json"):
            stale.unlink()
    (folder / ROWS_DIR).mkdir(parents=True, exist_ok=True)
    manifest.total_rows = total_rows
    manifest.dataset = dataset if dataset is not None else manifest.dataset
    manifest.save()
    return manifest
