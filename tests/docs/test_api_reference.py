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

#: Public functions and classes whose docstring has no ``Example:`` section yet (in inseq/attr, inseq/models,
#: inseq/evaluate and inseq/pipelines, which were being edited when this test was written). The list may only shrink:
#: a name that gets its example must leave it, and a new public name must come with one.
KNOWN_WITHOUT_EXAMPLE: frozenset[str] = frozenset(
    {
        "inseq.attr.FeatureAttribution",
        "inseq.attr.StepFunctionArgs",
        "inseq.attr.feat.CaptumAttribution",
        "inseq.attr.feat.DummyAttribution",
        "inseq.attr.feat.GradientAttribution",
        "inseq.attr.feat.InternalsAttribution",
        "inseq.attr.feat.MethodResult",
        "inseq.attr.feat.PerturbationAttribution",
        "inseq.attr.get_step_function",
        "inseq.evaluate.FaithfulnessMetric",
        "inseq.evaluate.StepView",
        "inseq.evaluate.get_metric",
        "inseq.models.DecoderOnlyAttributionModel",
        "inseq.models.EncoderDecoderAttributionModel",
        "inseq.models.HuggingfaceModel",
        "inseq.models.ModelConfig",
        "inseq.pipelines.AttributeBaseArgs",
        "inseq.pipelines.AttributeExtendedArgs",
        "inseq.pipelines.DatasetRow",
        "inseq.pipelines.DatasetRunArgs",
        "inseq.pipelines.DatasetRunResult",
        "inseq.pipelines.LoadDatasetArgs",
        "inseq.pipelines.Manifest",
        "inseq.pipelines.PipelineError",
        "inseq.pipelines.aggregate_with_args",
        "inseq.pipelines.generation_kwargs_for",
        "inseq.pipelines.load_rows",
        "inseq.pipelines.load_run_model",
        "inseq.pipelines.max_model_positions",
        "inseq.pipelines.run_signature",
        "inseq.pipelines.split_output",
        "inseq.pipelines.write_json_atomic",
    }
)


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


def test_the_example_check_sees_through_generated_and_inherited_docstrings() -> None:
    from dataclasses import dataclass

    @dataclass
    class Plain:
        x: int = 0

    class Child(inseq.FeatureAttributionOutput):
        pass

    assert _own_docstring(Plain) == "" and _own_docstring(Child) == ""  # neither has a docstring of its own
    assert EXAMPLE_SECTION.search(_own_docstring(inseq.load_model))
