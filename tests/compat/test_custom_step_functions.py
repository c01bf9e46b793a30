"""inseq 0.7 custom step functions run unchanged: the custom-attribution-target tutorial, verbatim.

``example_prob_diff_fn`` and its registration below are the code of inseq's "Custom attribution targets" tutorial,
reproduced as they are (the docstring left out) to check that code written for inseq runs here unchanged. It reads
``args.decoder_input_ids.shape[1]`` as the current step length and runs its own forward from
``args.encoder_input_embeds``, so it only works if it is called once per generation step with ``(batch, step_len)``
tensors and the embeddings gradients are taken w.r.t.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

import inseq
from inseq.attr.step_functions import (
    StepFunctionArgs,
    StepFunctionDecoderOnlyArgs,
    StepFunctionEncoderDecoderArgs,
    probability_fn,
)

SOURCE = "The kind mother found the paper."
# Target and contrast have the same token count and differ at target position 7 only ("water" / "money").
TARGET = "The kind mother found the water."
CONTRAST = "The kind mother found the money."
# Up to the divergence, the contrastive prefix equals the original one: there the tutorial's own forward equals the
# engine's, and its attributions equal the built-in contrast_prob_diff's (which reuses the original forward).
DIVERGENCE_END = 8


# ----------------------------------------------------------------------------- inseq tutorial code (verbatim)
# Simplified implementation of inseq.attr.step_functions.contrast_prob_diff_fn
# Works only for encoder-decoder models!
def example_prob_diff_fn(
    # Default arguments for all step functions
    args: StepFunctionArgs,
    # Extra arguments for our use case
    contrast_ids,
    contrast_attention_mask,
):
    # We truncate contrastive ids and their attention map to the current generation step
    device = args.attribution_model.device
    len_inputs = args.decoder_input_ids.shape[1]
    contrast_decoder_input_ids = contrast_ids[:, :len_inputs].to(device)
    contrast_decoder_attention_mask = contrast_attention_mask[:, :len_inputs].to(device)
    # We select the next contrastive token as target
    contrast_target_ids = contrast_ids[:, len_inputs].to(device)
    # Forward pass with the same model used for the main generation, but using contrastive inputs instead
    contrast_output = args.attribution_model.model(
        inputs_embeds=args.encoder_input_embeds,
        attention_mask=args.encoder_attention_mask,
        decoder_input_ids=contrast_decoder_input_ids,
        decoder_attention_mask=contrast_decoder_attention_mask,
    )
    # Return the prob difference as target for attribution
    model_probs = probability_fn(args)
    args.forward_output = contrast_output
    args.target_ids = contrast_target_ids
    contrast_probs = probability_fn(args)
    return model_probs - contrast_probs


def _register_tutorial_function() -> None:
    if "example_prob_diff" in inseq.list_step_functions():  # registered once per test session
        return
    # Register the function defined above
    # Since outputs are still probabilities, contiguous tokens can still be aggregated using product
    inseq.register_step_function(
        fn=example_prob_diff_fn,
        identifier="example_prob_diff",
        aggregate_map={"span_aggregate": lambda x: x.prod(dim=1, keepdim=True)},
    )


# ----------------------------------------------------------------------------- decoder-only adaptation
def example_prob_diff_decoder_only_fn(args: StepFunctionArgs, contrast_ids, contrast_attention_mask):
    """The tutorial's function adapted to decoder-only models: the contrast is a whole sequence."""
    device = args.attribution_model.device
    len_inputs = args.decoder_input_ids.shape[1]
    contrast_input_ids = contrast_ids[:, :len_inputs].to(device)
    contrast_mask = contrast_attention_mask[:, :len_inputs].to(device)
    contrast_target_ids = contrast_ids[:, len_inputs].to(device)
    contrast_output = args.attribution_model.model(input_ids=contrast_input_ids, attention_mask=contrast_mask)
    model_probs = probability_fn(args)
    args.forward_output = contrast_output
    args.target_ids = contrast_target_ids
    contrast_probs = probability_fn(args)
    return model_probs - contrast_probs


def _load(path: Path, method: str) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return inseq.load_model(str(path), method)


@pytest.fixture(scope="module")
def marian(tiny_model_path: Callable[[str], Path]) -> Any:
    return _load(tiny_model_path("marian"), "saliency")


@pytest.fixture(scope="module")
def gpt2(tiny_model_path: Callable[[str], Path]) -> Any:
    return _load(tiny_model_path("gpt2"), "saliency")


def _same_length(model: Any, a: str, b: str, as_targets: bool) -> None:
    la = model.encode(a, as_targets=as_targets).input_ids.shape[1]
    lb = model.encode(b, as_targets=as_targets).input_ids.shape[1]
    assert la == lb, "the test needs contrasts with as many tokens as the target"


@pytest.mark.parametrize("method", ["saliency", "integrated_gradients", "deeplift"])
def test_tutorial_function_verbatim_encoder_decoder(marian: Any, method: str) -> None:
    _register_tutorial_function()
    _same_length(marian, TARGET, CONTRAST, as_targets=True)
    contrast = marian.encode(CONTRAST, as_targets=True)
    extra = {"n_steps": 8} if method == "integrated_gradients" else {}
    out = marian.attribute(
        SOURCE,
        TARGET,
        method=method,
        attributed_fn="example_prob_diff",
        contrast_ids=contrast.input_ids,
        contrast_attention_mask=contrast.attention_mask,
        step_scores=["example_prob_diff"],
        attr_pos_end=DIVERGENCE_END,
        show_progress=False,
        **extra,
    )
    ref = marian.attribute(
        SOURCE,
        TARGET,
        method=method,
        attributed_fn="contrast_prob_diff",
        contrast_targets=CONTRAST,
        attr_pos_end=DIVERGENCE_END,
        step_scores=["contrast_prob_diff"],
        show_progress=False,
        **extra,
    )
    seq, ref_seq = out[0], ref[0]
    torch.testing.assert_close(seq.step_scores["example_prob_diff"], ref_seq.step_scores["contrast_prob_diff"])
    # the attributed window ends at the divergence: the score there is not zero, so the comparison is not trivial
    assert seq.step_scores["example_prob_diff"].abs().max() > 0
    scale = float(ref_seq.source_attributions.abs().max())
    assert scale > 0
    torch.testing.assert_close(seq.source_attributions, ref_seq.source_attributions, rtol=1e-4, atol=1e-5 * scale)


def test_tutorial_step_score_with_diverging_contrast(marian: Any) -> None:
    _register_tutorial_function()
    contrast = marian.encode(CONTRAST, as_targets=True)
    out = marian.attribute(
        SOURCE,
        TARGET,
        method="dummy",
        contrast_ids=contrast.input_ids,
        contrast_attention_mask=contrast.attention_mask,
        contrast_targets=CONTRAST,
        step_scores=["example_prob_diff", "contrast_prob_diff"],
        show_progress=False,
    )
    scores = out[0].step_scores
    torch.testing.assert_close(scores["example_prob_diff"], scores["contrast_prob_diff"])


def test_custom_function_receives_inseq_step_arguments(marian: Any, gpt2: Any) -> None:
    seen: list[StepFunctionArgs] = []

    def record(args: StepFunctionArgs) -> torch.Tensor:
        seen.append(args)
        return probability_fn(args)

    marian.attribute(SOURCE, TARGET, attributed_fn=record, show_progress=False)
    n_target = marian.encode(TARGET, as_targets=True).input_ids.shape[1]
    assert [a.decoder_input_ids.shape for a in seen] == [torch.Size([1, p]) for p in range(1, n_target)]
    first = seen[0]
    assert isinstance(first, StepFunctionEncoderDecoderArgs)
    assert first.encoder_input_embeds is not None and first.encoder_input_embeds.requires_grad
    assert first.decoder_input_embeds.shape[:2] == first.decoder_input_ids.shape
    assert first.forward_output.logits.shape[:2] == (1, 1)
    assert first.target_ids.shape == (1,)
    seen.clear()
    gpt2.attribute("the cat", "the cat sat on the mat", attributed_fn=record, show_progress=False)
    assert all(isinstance(a, StepFunctionDecoderOnlyArgs) and a.encoder_input_ids is None for a in seen)
    lengths = [a.decoder_input_ids.shape[1] for a in seen]
    assert lengths == list(range(lengths[0], lengths[0] + len(lengths)))


@pytest.mark.parametrize("method", ["saliency", "integrated_gradients", "deeplift"])
def test_tutorial_function_decoder_only(gpt2: Any, method: str) -> None:
    inseq.register_step_function(example_prob_diff_decoder_only_fn, "example_prob_diff_dec", overwrite=True)
    prompt, target, contrast_text = "the cat", "the cat sat on the mat", "the cat ran on a dog"
    _same_length(gpt2, target, contrast_text, as_targets=False)
    contrast = gpt2.encode(contrast_text)
    extra = {"n_steps": 8} if method == "integrated_gradients" else {}
    out = gpt2.attribute(
        prompt,
        target,
        method=method,
        attributed_fn="example_prob_diff_dec",
        contrast_ids=contrast.input_ids,
        contrast_attention_mask=contrast.attention_mask,
        step_scores=["example_prob_diff_dec"],
        show_progress=False,
        **extra,
    )
    # the function's contrastive forward runs on ids: no gradient flows through it, as with forced contrast inputs
    ref = gpt2.attribute(
        prompt,
        target,
        method=method,
        attributed_fn="contrast_prob_diff",
        contrast_targets=contrast_text,
        contrast_force_inputs=True,
        step_scores=["contrast_prob_diff"],
        show_progress=False,
        **extra,
    )
    seq, ref_seq = out[0], ref[0]
    torch.testing.assert_close(seq.step_scores["example_prob_diff_dec"], ref_seq.step_scores["contrast_prob_diff"])
    scale = float(ref_seq.target_attributions.nan_to_num().abs().max())
    assert scale > 0
    torch.testing.assert_close(
        seq.target_attributions, ref_seq.target_attributions, rtol=1e-4, atol=1e-5 * scale, equal_nan=True
    )


def test_tutorial_function_with_noise_sampling_method(marian: Any) -> None:
    """GradientShap expands the inputs (noise samples): the contrast ids are expanded with them, as in inseq."""
    _register_tutorial_function()
    contrast = marian.encode(CONTRAST, as_targets=True)
    out = marian.attribute(
        SOURCE,
        TARGET,
        method="gradient_shap",
        n_samples=3,
        attributed_fn="example_prob_diff",
        contrast_ids=contrast.input_ids,
        contrast_attention_mask=contrast.attention_mask,
        show_progress=False,
    )
    assert torch.isfinite(out[0].source_attributions).all()
    assert out[0].source_attributions.abs().sum() > 0
