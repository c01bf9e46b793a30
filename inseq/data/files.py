"""Atomic-write helpers: temporary file names, the permissions the umask gives, and cleaning of stale temporaries.

A temporary file is named ``.<name>.<pid>.<random>.tmp`` next to its destination. When a process is killed during
a save, its temporary file stays behind; the next save (or a resumed run) of the same destination removes every
temporary of that name whose process is no longer alive (and older unnamed ones after an hour).

Example:
    >>> prefix = temp_prefix(Path("out.json"))  # doctest: +SKIP
    >>> clean_stale_temps(Path("out.json"))  # doctest: +SKIP
    []
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Callable
from os import PathLike
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "STALE_UNTAGGED_SECONDS",
    "atomic_write",
    "atomic_write_text",
    "clean_stale_temps",
    "default_file_mode",
    "temp_prefix",
]

#: Age after which a temporary without a process id in its name is considered stale.
STALE_UNTAGGED_SECONDS = 3600


def default_file_mode() -> int:
    """``0o666`` minus the process umask: the mode ``open()`` would give a new file."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no other portable way to read it; restored at once
    os.umask(mask)
    return 0o666 & ~mask


def temp_prefix(path: Path) -> str:
    """Prefix of this process's temporary files for ``path``."""
    return f".{path.name}.{os.getpid()}."


def process_alive(pid: int) -> bool:
    """Whether a process with id ``pid`` runs (this process counts as alive)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temps(path: Path) -> list[Path]:
    """Remove the temporary files of ``path`` left by processes that are gone; returns what was removed."""
    folder = path.parent
    if not folder.is_dir():
        return []
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(?:(\d+)\.)?[^/]*\.tmp$")
    removed = []
    for entry in folder.iterdir():
        match = pattern.match(entry.name)
        if not match or not entry.is_file():
            continue
        pid = match.group(1)
        try:
            stale = (
                not process_alive(int(pid)) if pid else time.time() - entry.stat().st_mtime > STALE_UNTAGGED_SECONDS
            )
            if stale:
                entry.unlink()
                removed.append(entry)
        except (OSError, ValueError):
            continue
    return removed


def atomic_write(path: str | PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Write a file atomically: ``write(stream)`` fills a temporary file next to ``path``, which is flushed, synced
    and renamed into place; on any error the temporary is removed and ``path`` is left as it was.

    Example:
        >>> atomic_write("out.bin", lambda f: f.write(b"data"))  # doctest: +SKIP
        PosixPath('out.bin')
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path), suffix=".tmp")
    try:
        os.fchmod(fd, default_file_mode())
        with os.fdopen(fd, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise
    return path


def atomic_write_text(path: str | PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_write`).

    Example:
        >>> atomic_write_text("notes.json", "{}")  # doctest: +SKIP
        PosixPath('notes.json')
    """
    return atomic_write(path, lambda stream: stream.write(text.encode("utf-8")))
