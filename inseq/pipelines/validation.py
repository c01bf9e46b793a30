"""Pure checks for dataset runs: JSON-lines rows with their true line numbers, manifests, stale temporaries, options.

* :func:`parse_jsonl` keeps a placeholder for every malformed line, so that a dataset run skips and reports it
  (with its line number, see :func:`bad_row_reason`) instead of aborting, and row indices stay those of the file.
* :func:`read_manifest` validates a run's ``manifest.json`` before ``--resume`` uses it.
* :func:`clean_run_temps` removes the temporaries a killed run left in its folder.

Example:
    >>> rows = parse_jsonl(['{"text": "a"}', "not json", '{"text": "b"}'], "data.jsonl")
    >>> [bad_row_reason(r) for r in rows]
    [None, 'data.jsonl line 2: invalid JSON (Expecting value: line 1 column 1 (char 0))', None]
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .attribution import PipelineError

__all__ = [
    "BAD_ROW_KEY",
    "as_records",
    "bad_row_reason",
    "clean_run_temps",
    "parse_jsonl",
    "read_manifest",
]

#: Key of the placeholder row standing for a malformed line.
BAD_ROW_KEY = "__inseq_bad_row__"

_MAX_LINE_CHARS = 10_000_000
_MANIFEST_FIELDS = {"signature": dict, "total_rows": int, "done": dict, "skipped": dict, "finished": bool}


def parse_jsonl(lines: Iterable[str], source: str) -> list[dict[str, Any]]:
    """Parse JSON lines into rows; a malformed or non-object line becomes a placeholder naming its line number.

    Blank lines are ignored (they are not rows), so row ``i`` is the ``i``-th non-blank line.
    """
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{source} line {number}"
        if len(line) > _MAX_LINE_CHARS:
            rows.append({BAD_ROW_KEY: f"{where}: longer than {_MAX_LINE_CHARS} characters"})
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as err:
            rows.append({BAD_ROW_KEY: f"{where}: invalid JSON ({err})"})
            continue
        except RecursionError:
            rows.append({BAD_ROW_KEY: f"{where}: nested too deeply"})
            continue
        if not isinstance(value, dict):
            rows.append({BAD_ROW_KEY: f"{where}: expected a JSON object, got {type(value).__name__}"})
            continue
        rows.append(value)
    return rows


def as_records(values: Iterable[Any], source: str) -> list[dict[str, Any]]:
    """The items of a JSON array as rows; an item that is not an object becomes a placeholder naming its index."""
    return [
        value if isinstance(value, dict) else {BAD_ROW_KEY: f"{source} item {i}: expected a JSON object"}
        for i, value in enumerate(values)
    ]


def bad_row_reason(row: Any) -> str | None:
    """Why a row read from a file cannot be used (None when it is a proper record)."""
    if not isinstance(row, dict):
        return f"not a record ({type(row).__name__})"
    return row.get(BAD_ROW_KEY)


def read_manifest(path: Path) -> dict[str, Any]:
    """Read and validate a run manifest.

    Raises:
        PipelineError: naming the file and what is wrong (corrupt JSON, a missing or mistyped field), with the way out.
    """
    hint = "pass --overwrite to start the run again (or repair the file)."
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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_run_temps(folder: Path) -> list[Path]:
    """Remove temporaries of a run folder whose writer is gone (called when a run starts or resumes).

    Covers row files not yet renamed (``rows/*.json.tmp``), manifest temporaries (``.manifest.json.tmp-<pid>``) and
    the hidden temporaries of atomic saves (``.<name>.<pid>.<random>.tmp``); a process id still alive is kept.
    """
    removed = []
    patterns = (".*.tmp-*", "*/.*.tmp-*", "*/*.json.tmp", ".*.tmp", "*/.*.tmp")
    for entry in {p for pattern in patterns for p in folder.glob(pattern)}:
        match = re.search(r"\.tmp-(\d+)$", entry.name) or re.search(r"\.(\d+)\.[^./]+\.tmp$", entry.name)
        if match and int(match.group(1)) != os.getpid() and _pid_alive(int(match.group(1))):
            continue
        try:
            entry.unlink()
            removed.append(entry)
        except OSError:
            continue
    return removed
