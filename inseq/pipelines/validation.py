"""Checks of a dataset run's folder: the manifest before ``resume`` uses it, and the temporaries a killed run left.

Example:
    >>> from pathlib import Path
    >>> clean_run_temps(Path("no-such-run-folder"))
    []
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..data.files import process_alive
from .attribution import PipelineError

__all__ = ["clean_run_temps", "read_manifest"]


_MANIFEST_FIELDS = {"signature": dict, "total_rows": int, "done": dict, "skipped": dict, "finished": bool}


def read_manifest(path: Path, shard: bool = False) -> dict[str, Any]:
    """Read and validate a run manifest (``shard``: a rank's manifest in a parallel run's ``shards/`` folder).

    Raises:
        PipelineError: naming the file and what is wrong (corrupt JSON, a missing or mistyped field), with the way out.
    """
    hint = "pass --overwrite to start the run again (or repair the file)."
    if shard:
        hint = (
            "repair it, or move it out of the folder to attribute its rows again (the other shards, manifest.json "
            "and the row files are kept), or pass --overwrite to start the whole run again."
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise PipelineError(f"{path} is corrupt ({type(err).__name__}: {err}); {hint}") from None
    if not isinstance(data, dict):
        raise PipelineError(f"{path} is not a run manifest (a JSON {type(data).__name__}); {hint}")
    for name, kind in _MANIFEST_FIELDS.items():
        value = data.get(name)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise PipelineError(
                f"{path}: field {name!r} must be a {kind.__name__}, got {type(value).__name__}; {hint}"
            )
    for name in ("done", "skipped"):
        for key, value in data[name].items():
            if not re.fullmatch(r"\d+", key) or not isinstance(value, str):
                raise PipelineError(f"{path}: {name} entry {key!r}: {value!r} is not 'row index': 'text'; {hint}")
    return data


def clean_run_temps(folder: Path) -> list[Path]:
    """Remove temporaries of a run folder whose writer is gone (called when a run starts or resumes).

    Covers row files not yet renamed (``rows/*.json.tmp``), manifest temporaries (``.manifest.json.tmp-<pid>``) and
    the hidden temporaries of atomic saves (``.<name>.<pid>.<random>.tmp``); a process id still alive is kept.
    """
    removed = []
    patterns = (".*.tmp-*", "*/.*.tmp-*", "*/*.json.tmp", ".*.tmp", "*/.*.tmp")
    for entry in {p for pattern in patterns for p in folder.glob(pattern)}:
        match = re.search(r"\.tmp-(\d+)$", entry.name) or re.search(r"\.(\d+)\.[^./]+\.tmp$", entry.name)
        if match and process_alive(int(match.group(1))):
            continue
        try:
            entry.unlink()
            removed.append(entry)
        except OSError:
            continue
    return removed
