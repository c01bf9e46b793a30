"""The manifest of a resumable dataset run: rows done (with their files), rows skipped (with reason and line).

Every write is atomic (temporary file in the same folder, flushed, then ``os.replace``): an interrupted run leaves
either the previous manifest or the new one, never a truncated file.

Example:
    >>> manifest = Manifest(Path("runs/gpt2"), signature={"model_name_or_path": "gpt2"}, total_rows=3)  # doctest: +SKIP
    >>> manifest.save()  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .args import AttributeExtendedArgs, LoadDatasetArgs
from .attribution import PipelineError
from .validation import read_manifest

MANIFEST_NAME = "manifest.json"
ROWS_DIR = "rows"

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
    """Write JSON to ``path`` atomically (temporary file in the same folder, then ``os.replace``)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


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
    """

    def __init__(self, folder: Path, signature: dict[str, Any], total_rows: int) -> None:
        self.folder = folder
        self.path = folder / MANIFEST_NAME
        self.signature = signature
        self.total_rows = total_rows
        self.done: dict[int, str] = {}
        self.skipped: dict[int, str] = {}
        self.lines: dict[int, int] = {}
        self.finished = False

    @classmethod
    def load(cls, folder: Path) -> Manifest | None:
        """Read the manifest of ``folder`` (None when there is none)."""
        path = Path(folder) / MANIFEST_NAME
        if not path.exists():
            return None
        data = read_manifest(path)
        manifest = cls(Path(folder), data["signature"], data["total_rows"])
        manifest.done = {int(k): v for k, v in data["done"].items()}
        manifest.skipped = {int(k): v for k, v in data["skipped"].items()}
        manifest.lines = {int(k): int(v) for k, v in data.get("lines", {}).items()}
        manifest.finished = data["finished"]
        return manifest

    def save(self) -> None:
        """Rewrite the manifest atomically."""
        write_json_atomic(
            self.path,
            {
                "signature": self.signature,
                "total_rows": self.total_rows,
                "done": {str(k): v for k, v in sorted(self.done.items())},
                "skipped": {str(k): v for k, v in sorted(self.skipped.items())},
                "lines": {str(k): v for k, v in sorted(self.lines.items())},
                "finished": self.finished,
                "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
            },
        )


def open_manifest(folder: Path, signature: dict[str, Any], total_rows: int, resume: bool, overwrite: bool) -> Manifest:
    """The manifest to continue (``resume``), a fresh one, or an error for a run that must not be mixed up.

    Raises:
        PipelineError: The folder holds a run with other options, or an unfinished run without ``resume``.
    """
    previous = Manifest.load(folder)
    manifest = Manifest(folder, signature, total_rows)
    if previous is not None and not overwrite:
        if previous.signature != signature:
            changed = sorted(k for k in signature if previous.signature.get(k) != signature[k])
            raise PipelineError(
                f"{folder} holds a run with other options (changed: {', '.join(changed)}); pass overwrite=True "
                "(--overwrite) to discard it or choose another output_dir (--output_dir)."
            )
        if not previous.finished and not resume:
            raise PipelineError(
                f"{folder} holds an unfinished run ({len(previous.done)}/{previous.total_rows} rows done); pass "
                "resume=True (--resume) to continue it or overwrite=True (--overwrite) to start again."
            )
        manifest = previous
    (folder / ROWS_DIR).mkdir(parents=True, exist_ok=True)
    manifest.total_rows = total_rows
    manifest.save()
    return manifest
