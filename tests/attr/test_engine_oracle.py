"""The engine against the step-by-step Captum reference (:mod:`inseq.testing.reference`).

Each example of a padded batch of three (different lengths) must equal the reference run on that example alone, for
every gradient method, on decoder-only and encoder-decoder tiny models, with and without ``attribute_target``.

The tiny random models give near-uniform next-token distributions, so attributions are small (about 1e-4): the
absolute tolerance is ``1e-5`` times the largest reference magnitude, with ``rtol=1e-4``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

import inseq
from inseq.testing.reference import ReferenceResult, encode_example, reference_attribute

N_STEPS = 8
METHODS = ("saliency", "input_x_gradient", "integrated_gradients")

DECODER_ONLY_INPUTS = (
    ["the cat", "a dog runs in", "x"],
    ["the cat sat on the mat", "a dog runs in the park", "x y z w v"],
)
ENCODER_DECODER_INPUTS = (
    ["the cat sat", "a dog", "one two three four five six"],
    ["le chat", "un chien court dans le parc", "un deux"],
)


def assert_matches(actual: torch.Tensor | None, expected: torch.Tensor | None, what: str) -> None:
    """Same shape and NaN layout; values equal up to a tolerance scaled by the reference's magnitude."""
    if expected is None:
        assert actual is None, f"{what}: expected None"
        return
    assert actual is not None, f"{what}: missing"
    assert actual.shape == expected.shape, f"{what}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    assert torch.equal(actual.isnan(), expected.isnan()), f"{what}: NaN layouts differ"
    scale = float(expected.nan_to_num().abs().max().clamp_min(1e-30))
    torch.testing.assert_close(
        actual.float(), expected.float(), rtol=1e-4, atol=1e-5 * scale, equal_nan=True, msg=lambda m: f"{what}: {m}"
    )


def check_against_reference(
    model: Any, method: str, inputs: list[str], targets: list[str], attribute_target: bool = False, **kwargs: Any
) -> None:
    """Attribute the batch with the engine and each example alone with the reference; compare everything."""
    extra = {"n_steps": N_STEPS, "return_convergence_delta": True} if method == "integrated_gradients" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = model.attribute(
            inputs,
            targets,
            method=method,
            step_scores=["probability", "entropy"],
            show_progress=False,
            attribute_target=attribute_target,
            **extra,
            **kwargs,
        )
    assert len(out) == len(inputs)
    for i, (src, tgt) in enumerate(zip(inputs, targets)):
        example = encode_example(model, src, tgt)
        ref: ReferenceResult = reference_attribute(
            model,
            method,
            example,
            attribute_target=attribute_target,
            n_steps=N_STEPS,
            include_eos_baseline=kwargs.get("include_eos_baseline", False),
        )
        seq = out[i]
        what = f"{method} example {i}"
        assert [t.id for t in seq.target] == example.target_ids, f"{what}: target ids"
        if example.source_ids is not None:
            assert [t.id for t in seq.source] == example.source_ids, f"{what}: source ids"
        assert (seq.attr_pos_start, seq.attr_pos_end) == (ref.positions[0], ref.positions[-1] + 1), what
        assert_matches(seq.source_attributions, ref.source, f"{what} source")
        assert_matches(seq.target_attributions, ref.target, f"{what} target")
        for name in ("probability", "entropy"):
            torch.testing.assert_close(seq.step_scores[name], ref.step_scores[name], rtol=1e-5, atol=1e-6)
        if method == "integrated_gradients":
            # Both are completeness gaps of a float32 computation: compare with the attributions' magnitude.
            scale = float(ref.step_scores["probability"].abs().max())
            torch.testing.assert_close(seq.step_scores["deltas"], ref.step_scores["deltas"], rtol=0, atol=1e-5 * scale)


@pytest.fixture(scope="module")
def load(tiny_model_path: Callable[[str], Path]) -> Callable[[str], Any]:
    """Load each tiny model once per module."""
    cache: dict[str, Any] = {}

    def _load(name: str) -> Any:
        if name not in cache:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cache[name] = inseq.load_model(str(tiny_model_path(name)), "saliency")
        return cache[name]

    return _load


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_decoder_only_matches_reference(load: Callable[[str], Any], name: str, method: str) -> None:
    check_against_reference(load(name), method, *DECODER_ONLY_INPUTS)


@pytest.mark.parametrize("attribute_target", [False, True], ids=["source-only", "with-target"])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", ["marian", "t5"])
def test_encoder_decoder_matches_reference(
    load: Callable[[str], Any], name: str, method: str, attribute_target: bool
) -> None:
    check_against_reference(load(name), method, *ENCODER_DECODER_INPUTS, attribute_target=attribute_target)


def test_bart_integrated_gradients_with_eos_baseline(load: Callable[[str], Any]) -> None:
    """BART (decoder start = EOS): the EOS baseline replacement changes the baseline, both sides must agree."""
    check_against_reference(
        load("bart"), "integrated_gradients", *ENCODER_DECODER_INPUTS, attribute_target=True, include_eos_baseline=True
    )


def test_decoder_only_attr_positions_match_reference(load: Callable[[str], Any]) -> None:
    """A sub-range of positions is the corresponding columns of the reference."""
    model = load("gpt2")
    prompt, text = "the cat", "the cat sat on the mat"
    out = model.attribute([prompt], [text], method="saliency", attr_pos_start=3, attr_pos_end=5, show_progress=False)
    example = encode_example(model, prompt, text)
    ref = reference_attribute(model, "saliency", example, attr_pos_start=3, attr_pos_end=5)
    assert (out[0].attr_pos_start, out[0].attr_pos_end) == (3, 5)
    assert_matches(out[0].target_attributions, ref.target[:5], "saliency positions 3-4")


def test_batch_size_one_equals_full_batch(load: Callable[[str], Any]) -> None:
    """Attributing in batches of one gives the padded batch's numbers."""
    model = load("t5")
    kwargs: dict[str, Any] = {"method": "input_x_gradient", "attribute_target": True, "show_progress": False}
    full = model.attribute(*ENCODER_DECODER_INPUTS, **kwargs)
    single = model.attribute(*ENCODER_DECODER_INPUTS, batch_size=1, **kwargs)
    for a, b in zip(full, single):
        assert_matches(a.source_attributions, b.source_attributions, "source")
        assert_matches(a.target_attributions, b.target_attributions, "target")
