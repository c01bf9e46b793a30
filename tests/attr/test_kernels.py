"""The two shared kernels: one option validation per family, and results independent of how work is batched.

The path-integral kernel (saliency, input x gradient, IG, SIG, DIG) and the perturbed-forward kernel (occlusion,
LIME, ReAGent) validate their options once, so every method of a family rejects a bad value with the same error.
Their batching (points per pass, positions per chunk, copies per forward) follows the memory budgets; changing the
budgets must change the batching only, never the scores.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import torch

import inseq
from inseq.attr.feat.gradient.kernel import PathOptions
from inseq.attr.feat.perturbation.kernel import PerturbationOptions
from inseq.utils.budgets import memory_budgets

INPUTS = ["the cat", "a dog runs"]
TARGETS = ["the cat sat on the mat", "a dog runs in the park"]
PATH_METHODS = ("integrated_gradients", "sequential_integrated_gradients", "discretized_integrated_gradients")
PERTURBATION_METHODS = ("occlusion", "lime", "reagent")


@pytest.fixture(scope="module")
def gpt2(tiny_model_path) -> inseq.AttributionModel:
    return inseq.load_model(str(tiny_model_path("gpt2")), "saliency")


def _error(model: Any, method: str, **kwargs: Any) -> str:
    with pytest.raises((ValueError, TypeError)) as err:
        model.attribute(INPUTS[:1], TARGETS[:1], method=method, show_progress=False, **kwargs)
    return str(err.value)


@pytest.mark.parametrize("value", [0, -3, 2.5, True])
def test_internal_batch_size_rejected_alike_by_every_path_method(gpt2, value) -> None:
    messages = {method: _error(gpt2, method, n_steps=4, internal_batch_size=value) for method in PATH_METHODS}
    assert len(set(messages.values())) == 1, messages
    message = messages[PATH_METHODS[0]]
    assert message.startswith("internal_batch_size must be an int >= 1 or None, got ") and repr(value) in message


def test_max_chunk_size_and_n_steps_rejected_alike(gpt2) -> None:
    chunk = {m: _error(gpt2, m, n_steps=4, max_chunk_size=0) for m in PATH_METHODS}
    assert len(set(chunk.values())) == 1 and "max_chunk_size" in chunk[PATH_METHODS[0]]
    steps = {m: _error(gpt2, m, n_steps=0) for m in PATH_METHODS[:2]}
    assert len(set(steps.values())) == 1 and "got 0" in steps[PATH_METHODS[0]]
    # discretized IG needs two points per path: same check, with its own minimum
    assert "n_steps must be an int >= 2, got 1" in _error(gpt2, PATH_METHODS[2], n_steps=1)


@pytest.mark.parametrize("value", [0, -1, 1.5])
def test_perturbations_per_eval_rejected_alike_by_every_perturbation_method(gpt2, value) -> None:
    messages = {method: _error(gpt2, method, perturbations_per_eval=value) for method in PERTURBATION_METHODS}
    assert len(set(messages.values())) == 1, messages
    assert re.match(rf"perturbations_per_eval must be an int >= 1.*, got {re.escape(repr(value))}", messages["lime"])


def test_options_accept_defaults_and_valid_values() -> None:
    assert PathOptions(n_steps=3, internal_batch_size=2, max_chunk_size=1).internal_batch_size == 2
    assert PerturbationOptions().perturbations_per_eval is None
    with pytest.raises(ValueError, match="n_steps must be an int >= 2, got 1"):
        PathOptions(n_steps=1, min_steps=2)
    with pytest.raises(ValueError, match="internal_batch_size must be an int >= 1 or None, got 0"):
        PathOptions(n_steps=2, internal_batch_size=0)
    with pytest.raises(TypeError, match=r"perturbations_per_eval must be an int >= 1 or None, got 2.5 \(float\)"):
        PerturbationOptions(perturbations_per_eval=2.5)


def _scores(model: Any, method: str, **kwargs: Any) -> list[torch.Tensor]:
    out = model.attribute(INPUTS, TARGETS, method=method, show_progress=False, **kwargs)
    return [seq.target_attributions for seq in out.sequence_attributions]


@pytest.mark.parametrize("method", ["saliency", "integrated_gradients", "sequential_integrated_gradients"])
def test_path_scores_do_not_depend_on_budgets(gpt2, method) -> None:
    kwargs = {} if method == "saliency" else {"n_steps": 3}
    wide = _scores(gpt2, method, **kwargs)
    # one position per backward and one point per pass: the most split-up schedule
    with memory_budgets(backward_tokens=1, forward_tokens=1):
        narrow = _scores(gpt2, method, **kwargs)
    for a, b in zip(wide, narrow):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7, equal_nan=True)


@pytest.mark.parametrize("method", PERTURBATION_METHODS)
def test_perturbation_scores_do_not_depend_on_budgets(tiny_model_path, method) -> None:
    # a few short ReAGent probing rounds keep the one-row-per-forward schedule fast
    kwargs = {"num_probes": 4, "max_probe_steps": 2} if method == "reagent" else {}
    model = inseq.load_model(str(tiny_model_path("gpt2")), method, **kwargs)
    wide = _scores(model, method)
    with memory_budgets(perturbed_rows=1):  # one copy per forward, one position per forward
        narrow = _scores(model, method)
    explicit = _scores(model, method, perturbations_per_eval=3)
    for a, b, c in zip(wide, narrow, explicit):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7, equal_nan=True)
        torch.testing.assert_close(a, c, rtol=1e-4, atol=1e-7, equal_nan=True)


def test_reagent_stops_when_probing_makes_no_progress(tiny_model_path):
    """A source of unknown tokens never meets the stopping condition: the run ends by itself with a warning."""
    import time
    import warnings

    import inseq

    model = inseq.load_model(str(tiny_model_path("marian")), "reagent", num_probes=4, stall_patience=20)
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = model.attribute("☃☃☃ ☃☃", "a b", show_progress=False)
    assert time.perf_counter() - started < 120  # max_probe_steps=3000 took about 110 s before
    assert out[0].source_attributions is not None
    assert any("made no progress" in str(w.message) for w in caught)
