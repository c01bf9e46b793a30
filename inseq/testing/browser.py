"""What a test that needs headless Chromium does when none is installed: skip locally, fail under CI.

A continuous-integration run (``CI`` set to ``true``/``1``/``yes``, as CI services and ``.ci/run`` do) must not go
green without its browser tests, so there a missing Chromium is a failure; on a developer machine the tests skip.
inseq's own test suite applies it to every test marked ``@pytest.mark.browser`` (``tests/conftest.py``).

Example:
    >>> missing_browser_outcome({"CI": "true"}, find=lambda: None)[0]
    'fail'
    >>> missing_browser_outcome({}, find=lambda: None)[0]
    'skip'
    >>> missing_browser_outcome({"CI": "true"}, find=lambda: "/usr/bin/chromium") is None
    True
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from ..viz.browser import find_chromium

__all__ = ["is_ci", "missing_browser_outcome", "require_browser"]

_TRUE = {"1", "true", "yes", "on"}


def is_ci(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``environ`` (default: the process environment) marks a CI run (``CI=true``, ``1``, ``yes`` or ``on``).

    Example:
        >>> is_ci({"CI": "True"}), is_ci({"CI": "false"}), is_ci({})
        (True, False, False)
    """
    env = os.environ if environ is None else environ
    return env.get("CI", "").strip().lower() in _TRUE


def missing_browser_outcome(
    environ: Mapping[str, str] | None = None, find: Callable[[], str | None] = find_chromium
) -> tuple[str, str] | None:
    """``None`` when Chromium is found (by ``find``), else ``("fail", reason)`` under CI and ``("skip", reason)``.

    Example:
        >>> missing_browser_outcome({"CI": "1"}, find=lambda: None)[1].startswith("CI=")
        True
    """
    if find() is not None:
        return None
    if is_ci(environ):
        return (
            "fail",
            "CI=true but no Chromium was found (chromium, chromium-browser, google-chrome or $INSEQ_CHROMIUM): the "
            "browser tests cannot be skipped in CI; install it (Debian: apt-get install chromium, as .ci/run does).",
        )
    return "skip", "Chromium is not installed (apt-get install chromium, or set INSEQ_CHROMIUM)"


def require_browser(environ: Mapping[str, str] | None = None, find: Callable[[], str | None] = find_chromium) -> None:
    """Inside a test: return when Chromium is there, else skip it (locally) or fail it (under CI).

    Example:
        >>> def test_view_in_browser():  # doctest: +SKIP
        ...     require_browser()
    """
    import pytest

    outcome = missing_browser_outcome(environ, find)
    if outcome is None:
        return
    action, reason = outcome
    if action == "fail":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)
