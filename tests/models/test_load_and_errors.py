"""Loading models by folder path and the errors of ``attribute()``: each names the bad value."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import inseq
from inseq.models import HuggingfaceDecoderOnlyModel, HuggingfaceEncoderDecoderModel


def _load(path: Path, method: str | None = "saliency") -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return inseq.load_model(str(path), method)


@pytest.fixture(scope="module")
def gpt2(tiny_model_path: Callable[[str], Path]) -> Any:
    """The tiny GPT-2, loaded once."""
    return _load(tiny_model_path("gpt2"))


@pytest.fixture(scope="module")
def marian(tiny_model_path: Callable[[str], Path]) -> Any:
    """The tiny Marian, loaded once."""
    return _load(tiny_model_path("marian"))


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("gpt2", HuggingfaceDecoderOnlyModel),
        ("llama", HuggingfaceDecoderOnlyModel),
        ("bart", HuggingfaceEncoderDecoderModel),
        ("t5", HuggingfaceEncoderDecoderModel),
    ],
)
def test_load_by_folder_picks_the_architecture(tiny_model_path: Callable[[str], Path], name: str, cls: type) -> None:
    model = _load(tiny_model_path(name), None)
    assert type(model) is cls
    assert model.is_encoder_decoder is (cls is HuggingfaceEncoderDecoderModel)
    assert not model.model.training
    info = model.info
    assert info["model_name"] == str(tiny_model_path(name))
    assert info["model_class"] == type(model.model).__name__
    assert info["tokenizer_class"] == type(model.tokenizer).__name__


def test_info_is_stored_in_outputs(gpt2: Any) -> None:
    out = gpt2.attribute(["the cat"], ["the cat sat"], show_progress=False)
    assert out.info["model_name"] == gpt2.info["model_name"]
    assert out.info["attribution_method"] == "saliency"


def test_registries_list_ids() -> None:
    steps = inseq.list_step_functions()
    assert len(steps) >= 14
    for name in ("probability", "entropy", "kl_divergence", "mc_dropout_prob_avg", "top_p_size", "in_context_pvi"):
        assert name in steps
    methods = inseq.list_feature_attribution_methods()
    for name in ("saliency", "input_x_gradient", "integrated_gradients"):
        assert name in methods


def test_missing_model_path_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(OSError, match="no-such-model"):
        inseq.load_model(str(missing), "saliency")


def test_unknown_method_lists_valid_ids(tiny_model_path: Callable[[str], Path], gpt2: Any) -> None:
    with pytest.raises(ValueError, match="not_a_method") as err:
        inseq.load_model(str(tiny_model_path("gpt2")), "not_a_method")
    assert "saliency" in str(err.value) and "integrated_gradients" in str(err.value)
    with pytest.raises(ValueError, match="not_a_method") as err:
        gpt2.attribute(["the cat"], ["the cat sat"], method="not_a_method", show_progress=False)
    assert "saliency" in str(err.value)


def test_unknown_step_function(gpt2: Any) -> None:
    with pytest.raises(ValueError, match="no_such_score") as err:
        gpt2.attribute(["the cat"], ["the cat sat"], step_scores=["no_such_score"], show_progress=False)
    assert "probability" in str(err.value)
    with pytest.raises(ValueError, match="no_such_fn"):
        gpt2.attribute(["the cat"], ["the cat sat"], attributed_fn="no_such_fn", show_progress=False)


def test_empty_input_list(gpt2: Any) -> None:
    with pytest.raises(ValueError, match="empty"):
        gpt2.attribute([], [], show_progress=False)


def test_input_generated_length_mismatch(gpt2: Any) -> None:
    with pytest.raises(ValueError) as err:
        gpt2.attribute(["the cat", "a dog"], ["the cat sat"], show_progress=False)
    assert "input_texts has 2 texts but generated_texts has 1: they must match." in str(err.value)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (None, 50, "attr_pos_start=None / attr_pos_end=50 fall outside the target sequence of 6 tokens"),
        (40, None, "attr_pos_start=40 / attr_pos_end=None fall outside the target sequence of 6 tokens"),
        (5, 3, "attr_pos_start=5 and attr_pos_end=3 give the range [5, 3) for a target of 6 tokens"),
    ],
)
def test_attr_pos_outside_sequence(gpt2: Any, start: int | None, end: int | None, message: str) -> None:
    with pytest.raises(ValueError) as err:
        gpt2.attribute(["the cat"], ["the cat sat on"], attr_pos_start=start, attr_pos_end=end, show_progress=False)
    assert message in str(err.value)
    assert "valid positions are 3 to 5" in str(err.value).lower()


def test_contrast_targets_of_wrong_size(gpt2: Any) -> None:
    with pytest.raises(ValueError, match="contrast_targets") as err:
        gpt2.attribute(
            ["the cat", "a dog"],
            ["the cat sat", "a dog ran"],
            step_scores=["contrast_prob"],
            contrast_targets=["the cat ran"],
            show_progress=False,
        )
    assert "contrast_targets has 1 texts but 2 inputs are attributed" in str(err.value)


def test_generated_text_must_continue_prompt(gpt2: Any) -> None:
    with pytest.raises(ValueError, match=r"generated_texts\[1\]") as err:
        gpt2.attribute(["the cat", "a dog"], ["the cat sat", "one dog ran"], show_progress=False)
    assert "input_texts[1]" in str(err.value)


def test_contrast_sources_need_encoder_decoder(gpt2: Any) -> None:
    with pytest.raises(ValueError, match="contrast_sources"):
        gpt2.attribute(
            ["the cat"],
            ["the cat sat"],
            step_scores=["contrast_prob"],
            contrast_sources=["a dog"],
            show_progress=False,
        )


def test_encoder_decoder_empty_source(marian: Any) -> None:
    with pytest.raises(ValueError, match=r"input_texts\[1\]"):
        marian.attribute(["the cat", ""], ["le chat", "un chien"], show_progress=False)


def test_invalid_n_steps(gpt2: Any) -> None:
    with pytest.raises(ValueError, match="n_steps"):
        gpt2.attribute(["the cat"], ["the cat sat"], method="integrated_gradients", n_steps=0, show_progress=False)
