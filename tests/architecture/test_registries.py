"""Registries: explicit ids, no silent replacement, failed registrations leave no trace."""

from __future__ import annotations

import pytest
import torch

import inseq
from inseq.attr.feat import METHODS, SaliencyAttribution, register_attribution_method
from inseq.attr.feat.base import FeatureAttribution, MethodResult
from inseq.attr.step_functions import STEP_SCORES_MAP
from inseq.data.aggregation_functions import default_aggregate_map


def test_subclass_without_own_id_never_replaces_the_builtin():
    class MySaliency(SaliencyAttribution):
        pass

    assert METHODS.get("saliency") is SaliencyAttribution


def test_subclass_declaring_a_taken_id_raises():
    with pytest.raises(ValueError, match="'saliency' is already registered"):

        class Clash(SaliencyAttribution):
            method_name = "saliency"

    assert METHODS.get("saliency") is SaliencyAttribution


def test_subclass_with_own_id_registers_and_overwrite_is_explicit():
    class Custom(FeatureAttribution):
        method_name = "test_registry_custom"

        def compute(self, ctx):
            return MethodResult()

    try:
        assert METHODS.get("test_registry_custom") is Custom
        assert "test_registry_custom" in inseq.list_feature_attribution_methods()

        class Replacement(Custom, overwrite=True):
            method_name = "test_registry_custom"

        assert METHODS.get("test_registry_custom") is Replacement
    finally:
        METHODS._items.pop("test_registry_custom", None)


def test_register_attribution_method_rejects_non_methods():
    with pytest.raises(TypeError, match="FeatureAttribution subclass"):
        register_attribution_method(int)


def _score(args):
    return torch.zeros(args.target_ids.shape[0])


def test_step_function_registration_carries_its_aggregation_rule():
    name = "test_registry_score"
    try:
        inseq.register_step_function(_score, name, aggregate_map={"spans": "sum"})
        assert default_aggregate_map()["step_scores"]["spans"][name] == "sum"
    finally:
        STEP_SCORES_MAP._items.pop(name, None)
        from inseq.data import aggregation_functions

        aggregation_functions._DEFAULT_AGGREGATE_MAP["step_scores"]["spans"].pop(name, None)


def test_builtin_step_rules_come_from_the_step_function_registry():
    rules = default_aggregate_map()["step_scores"]["spans"]
    assert rules["probability"] == "prod" and rules["entropy"] == "sum"
    assert "logit" not in rules


@pytest.mark.parametrize(
    ("aggregate_map", "error"),
    [({"spans": "no_such_fn"}, ValueError), ("sum", TypeError)],
)
def test_failed_step_function_registration_leaves_no_trace(aggregate_map, error):
    name = "test_registry_failing"
    with pytest.raises(error):
        inseq.register_step_function(_score, name, aggregate_map=aggregate_map)
    assert name not in inseq.list_step_functions()
    assert name not in default_aggregate_map()["step_scores"]["spans"]


def test_registering_an_existing_step_function_raises_without_overwrite():
    with pytest.raises(ValueError, match="'probability' is already registered"):
        inseq.register_step_function(_score, "probability")
    assert STEP_SCORES_MAP.get("probability") is not _score
