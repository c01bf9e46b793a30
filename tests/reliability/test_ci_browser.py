"""CI cannot go green without its browser tests (issue 23 item 11).

Tests marked ``browser`` skip when Chromium is missing on a developer machine, but fail under ``CI=true``;
``.ci/run`` exports ``CI=true`` and stops when it cannot install Chromium.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from inseq.testing.browser import is_ci, missing_browser_outcome, require_browser

ROOT = Path(__file__).resolve().parents[2]
BROWSER_TEST = "tests/viz/test_sources_view.py::test_view_renders_in_a_browser"


@pytest.mark.parametrize("value", ["true", "True", "1", "yes"])
def test_a_missing_browser_fails_under_ci(value):
    outcome = missing_browser_outcome({"CI": value}, find=lambda: None)
    assert outcome is not None and outcome[0] == "fail"
    assert outcome[1].startswith("CI=true but no Chromium was found")


@pytest.mark.parametrize("env", [{}, {"CI": "false"}, {"CI": "0"}, {"CI": ""}])
def test_a_missing_browser_skips_outside_ci(env):
    assert missing_browser_outcome(env, find=lambda: None) == (
        "skip",
        "Chromium is not installed (apt-get install chromium, or set INSEQ_CHROMIUM)",
    )
    assert not is_ci(env)


def test_a_found_browser_runs_the_test_even_under_ci():
    assert missing_browser_outcome({"CI": "true"}, find=lambda: "/usr/bin/chromium") is None


def test_require_browser_fails_the_test_under_ci(monkeypatch):
    import inseq.viz.browser as browser

    monkeypatch.setattr(browser.shutil, "which", lambda name: None)  # the lookup finds nothing
    with pytest.raises(pytest.fail.Exception, match="CI=true but no Chromium was found"):
        require_browser({"CI": "true"})
    with pytest.raises(pytest.skip.Exception, match="Chromium is not installed"):
        require_browser({})


def _run_browser_test(ci: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update({"INSEQ_CHROMIUM": "/nonexistent/chromium", "PYTHONPATH": str(ROOT)})
    if ci is not None:
        env["CI"] = ci
    cmd = [sys.executable, "-m", "pytest", "-q", "-rfEs", "-p", "no:cacheprovider", BROWSER_TEST]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_the_marked_browser_test_fails_under_ci_and_skips_otherwise():
    failed = _run_browser_test("true")
    assert failed.returncode == 1, failed.stdout[-2000:]
    assert "1 error" in failed.stdout and "CI=true but no Chromium was found" in failed.stdout
    skipped = _run_browser_test(None)
    assert skipped.returncode == 0, skipped.stdout[-2000:]
    assert "1 skipped" in skipped.stdout and "Chromium is not installed" in skipped.stdout


def _have_chromium(path: str) -> int:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    start = script.index("have_chromium() {")
    function = script[start : script.index("\n}\n", start) + 3]
    env = {"PATH": path, "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(["/bin/bash", "-c", f"{function}\nhave_chromium"], env=env, check=False).returncode


def test_ci_run_exports_ci_and_refuses_to_run_without_chromium(tmp_path):
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "\nexport CI=true\n" in script
    assert "exit 1" in script[script.index("if ! have_chromium; then") :]
    assert _have_chromium(str(tmp_path)) == 1  # an empty PATH: no browser
    fake = tmp_path / "chromium-browser"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert _have_chromium(str(tmp_path)) == 0
