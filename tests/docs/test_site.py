"""The documentation site: it builds without a warning, indexes every public name, and works in a browser.

The site is built once per test session (``sphinx-build -W --keep-going``, as ``make docs``; under pytest-xdist
one worker builds and the others wait for it). The browser tests open the built pages in headless Chromium from
``file://`` URLs, as a reader opening ``docs/_build/html/index.html`` would.
"""

from __future__ import annotations

import fcntl
import html
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

import inseq
from inseq.viz.browser import find_chromium

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "_ext"))
from inseq_api import api_plan  # noqa: E402

sphinx = pytest.importorskip("sphinx", reason="Sphinx is not installed (pip install -e '.[docs]', or make docs)")
needs_chromium = pytest.mark.browser  # skipped without Chromium, a failure under CI=true
BUILD_TIMEOUT_S = 600
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--hide-scrollbars",
    "--no-first-run",
    "--mute-audio",
    "--allow-file-access-from-files",
)


def _build(out: Path) -> dict:
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"]
    cmd += ["-d", str(out / "doctrees"), str(DOCS), str(out / "html")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, cwd=ROOT)
    return {"returncode": proc.returncode, "log": (proc.stdout + proc.stderr)[-20000:]}


@pytest.fixture(scope="session")
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built site's folder (``.../html``); the build's result is shared by the workers of one test run."""
    run_id = getattr(request.config, "workerinput", {}).get("testrunuid")
    root = tmp_path_factory.getbasetemp().parent / f"docs-site-{run_id}" if run_id else tmp_path_factory.mktemp("site")
    root.mkdir(exist_ok=True)
    with open(root / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        result_file = root / "result.json"
        if not result_file.exists():
            result_file.write_text(json.dumps(_build(root)))
        result = json.loads(result_file.read_text())
    assert result["returncode"] == 0, f"the documentation build failed or warned:\n{result['log']}"
    return root / "html"


def test_the_site_builds_without_warnings_and_has_every_page(site: Path) -> None:
    pages = {p.stem for p in DOCS.glob("*.md")}
    assert {"index", "getting_started", "concepts", "methods", "step_functions", "views", "faithfulness"} <= pages
    assert sorted(p for p in pages if not (site / f"{p}.html").is_file()) == []
    assert (site / "searchindex.js").is_file() and (site / "api" / "index.html").is_file()
    changelog = (site / "changelog.html").read_text(encoding="utf-8")
    assert "0.8.0.dev0" in changelog  # CHANGELOG.md is included


def _inventory(site: Path) -> set[str]:
    from sphinx.util.inventory import InventoryFile

    data = InventoryFile.loads((site / "objects.inv").read_bytes(), uri="")
    entries = data.data if hasattr(data, "data") else data
    return {name for kind, objects in entries.items() if kind.startswith("py:") for name in objects}


def test_every_name_of_inseq_all_has_an_api_entry(site: Path) -> None:
    indexed = _inventory(site)
    assert sorted(f"inseq.{name}" for name in inseq.__all__ if f"inseq.{name}" not in indexed) == []
    targets = {e.target for entries in api_plan().values() for e in entries}
    assert sorted(targets - indexed) == []
    assert "inseq.AttributionModel.attribute" in indexed  # class members are documented too


def chromium(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    cmd = [find_chromium(), *CHROMIUM_FLAGS, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def dom(url: str, profile: Path) -> str:
    return chromium(f"--user-data-dir={profile}", "--virtual-time-budget=8000", "--dump-dom", url).stdout


def visible_links(page: str) -> set[str]:
    return {html.unescape(h) for h in re.findall(r'<a [^>]*href="([^"]+)"', page)}


@needs_chromium
def test_the_home_page_has_the_navigation_and_a_picture(site: Path, tmp_path: Path) -> None:
    page = dom((site / "index.html").as_uri(), tmp_path / "profile")
    nav = re.search(r'<div class="sidebar-tree">(.*?)</div>', page, re.S)
    assert nav, "furo's navigation tree is missing"
    links = visible_links(nav.group(1))
    assert {"getting_started.html", "concepts.html", "api/index.html", "changelog.html"} <= links
    assert 'role="search"' in page or 'class="sidebar-search"' in page
    shot = tmp_path / "home.png"
    chromium(
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}",
        "--window-size=1200,900",
        "--virtual-time-budget=3000",
        (site / "index.html").as_uri(),
    )
    image = Image.open(shot).convert("RGB").resize((300, 225))
    pixels = list(image.getdata())
    assert sum(1 for p in pixels if sum(p) < 600) > 0.02 * len(pixels)  # text and code, not a blank page
    assert len(set(pixels)) >= 16


@needs_chromium
def test_an_api_page_documents_load_model(site: Path, tmp_path: Path) -> None:
    page = dom((site / "api" / "inseq.html").as_uri(), tmp_path / "profile")
    assert 'id="inseq.load_model"' in page and 'id="inseq.AttributionModel"' in page
    assert re.search(r'<div class="sidebar-tree">.*?href="inseq\.data\.html"', page, re.S)  # the API pages in the nav


@needs_chromium
def test_the_search_finds_an_api_entry(site: Path, tmp_path: Path) -> None:
    # the search page loads searchindex.js and fills its results with a script: check what the reader sees
    page = dom((site / "search.html").as_uri() + "?q=load_model", tmp_path / "profile")
    results = re.search(r'<ul[^>]*class="search"[^>]*>(.*?)</ul>', page, re.S)
    assert results, "no search results were rendered (searchindex.js not loaded?)"
    assert any("api/inseq.html#inseq.load_model" in link for link in visible_links(results.group(1)))
