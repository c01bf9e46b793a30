"""The API reference covers the whole public surface, and every public function and class has a docstring example.

The reference is written at build time from ``__all__`` of the documented modules (``docs/_ext/inseq_api.py``); these
tests check that plan without building. ``test_site.py`` checks the built site's index of objects.
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

import pytest

import inseq

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "docs" / "_ext"))
from inseq_api import DOCUMENTED_MODULES, ApiEntry, api_plan, module_page  # noqa: E402

EXAMPLE_SECTION = re.compile(r"^\s*Examples?:\s*$", re.MULTILINE)

#: Public functions and classes whose docstring has no ``Example:`` section yet (files other sessions are editing).
#: The list may only shrink: a name that gets its example must leave it, a new name must not need it.
KNOWN_WITHOUT_EXAMPLE: frozenset[str] = frozenset()


@pytest.fixture(scope="module")
def plan() -> dict[str, list[ApiEntry]]:
    return api_plan()


def test_every_name_of_inseq_all_is_documented_on_the_face_page(plan) -> None:
    face = {e.name: e for e in plan["inseq"]}
    assert sorted(face) == sorted(inseq.__all__)
    assert all(e.documented_here for e in face.values()), "the face comes first: it documents all its names"
    page = module_page("inseq", plan["inseq"])
    undocumented = [n for n in inseq.__all__ if not re.search(rf"^\.\. auto\w+:: {re.escape(n)}$", page, re.M)]
    assert undocumented == []


def test_every_public_name_of_the_documented_modules_has_an_entry(plan) -> None:
    assert list(plan) == list(DOCUMENTED_MODULES)
    documented = {e.target for entries in plan.values() for e in entries if e.documented_here}
    for module_name, entries in plan.items():
        module = sys.modules[module_name]
        names = list(getattr(module, "__all__", [e.name for e in entries]))
        assert [e.name for e in entries] == names, module_name
        dangling = [e.target for e in entries if e.target not in documented]
        assert dangling == [], f"{module_name} links to entries nobody documents: {dangling}"


def test_a_re_export_links_to_the_first_module_exporting_it(plan) -> None:
    by_name = {e.name: e for e in plan["inseq.data"]}
    assert by_name["FeatureAttributionOutput"].target == "inseq.FeatureAttributionOutput"
    assert by_name["Aggregator"].target == "inseq.data.Aggregator"
    assert "inseq.FeatureAttributionOutput" in module_page("inseq.data", plan["inseq.data"])


def _own_docstring(obj) -> str:
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__
    if not doc:
        return ""
    if inspect.isclass(obj) and doc.startswith(f"{obj.__name__}("):  # a dataclass's generated signature
        return ""
    return doc


def names_without_example(plan) -> list[str]:
    """Entries (functions, classes, exceptions) whose own docstring is missing or has no ``Example:`` section."""
    seen, missing = set(), []
    for entries in plan.values():
        for entry in entries:
            if entry.kind == "data" or not entry.documented_here:
                continue
            obj = getattr(sys.modules[entry.module], entry.name)
            if id(obj) in seen:  # an alias of an object already checked
                continue
            seen.add(id(obj))
            if not EXAMPLE_SECTION.search(_own_docstring(obj)):
                missing.append(entry.target)
    return sorted(missing)


def test_every_public_function_and_class_has_a_docstring_example(plan) -> None:
    missing = set(names_without_example(plan))
    new = sorted(missing - KNOWN_WITHOUT_EXAMPLE)
    fixed = sorted(KNOWN_WITHOUT_EXAMPLE - missing)
    assert new == [], f"public names without a docstring or an 'Example:' section: {new}"
    assert fixed == [], f"these have an example now: remove them from KNOWN_WITHOUT_EXAMPLE: {fixed}"
