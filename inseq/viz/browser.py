"""Render HTML views in a headless Chromium: screenshots (for docs and tests) and the DOM after scripts ran.

Uses the ``chromium`` command line only (``--headless --screenshot`` and ``--dump-dom``), no driver package. Each call
runs a fresh browser with its own temporary profile, so concurrent calls do not share state.

Example:
    >>> path = screenshot("<b>hello</b>", "hello.png", width=400, height=200)  # doctest: +SKIP
    >>> "hello" in dump_dom("<b>hello</b>")  # doctest: +SKIP
    True
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .html import html_page

__all__ = ["BrowserError", "dump_dom", "find_chromium", "screenshot"]

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run", "--mute-audio")


class BrowserError(RuntimeError):
    """Chromium is missing or failed to render a page."""


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome executable: ``$INSEQ_CHROMIUM`` if set, else the first one on ``PATH``."""
    env = os.environ.get("INSEQ_CHROMIUM")
    if env:
        return env if shutil.which(env) else None
    return next((path for name in _CANDIDATES if (path := shutil.which(name))), None)


def _page(html: str, script: str | None) -> str:
    page = html if html.lstrip().lower().startswith("<!doctype") else html_page(html)
    if script:
        tail = f"<script>{script}</script>"
        page = page.replace("</body>", tail + "</body>") if "</body>" in page else page + tail
    return page


def _run(html: str, args: list[str], script: str | None, timeout: float) -> subprocess.CompletedProcess:
    exe = find_chromium()
    if exe is None:
        raise BrowserError("No Chromium found: install it (Debian: apt-get install chromium) or set INSEQ_CHROMIUM.")
    with tempfile.TemporaryDirectory(prefix="inseq-chromium-") as tmp:
        page = Path(tmp) / "page.html"
        page.write_text(_page(html, script), encoding="utf-8")
        cmd = [exe, *_FLAGS, f"--user-data-dir={tmp}/profile", *args, page.as_uri()]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as err:
            raise BrowserError(f"Chromium did not finish within {timeout} s.") from err
    if proc.returncode != 0:
        raise BrowserError(f"Chromium exited with {proc.returncode}: {proc.stderr[-2000:]}")
    return proc


def screenshot(
    html: str, path: str | Path, width: int = 1200, height: int = 800, script: str | None = None, timeout: float = 90
) -> Path:
    """Save a PNG of ``html`` (a fragment or a full page) rendered in a ``width`` x ``height`` window.

    ``script`` runs at the end of the page before the capture (e.g. to expand a token node).

    Raises:
        BrowserError: when Chromium is missing, fails, or writes no image.
    """
    target = Path(path).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    args = [f"--screenshot={target}", f"--window-size={width},{height}", "--virtual-time-budget=2000"]
    _run(html, args, script, timeout)
    if not target.exists():
        raise BrowserError(f"Chromium wrote no screenshot to {target}.")
    return target


def dump_dom(html: str, script: str | None = None, timeout: float = 90) -> str:
    """The serialised DOM of ``html`` after its scripts (and ``script``, appended at the end) have run.

    Raises:
        BrowserError: when Chromium is missing or fails.
    """
    return _run(html, ["--dump-dom", "--virtual-time-budget=2000"], script, timeout).stdout
