"""Arguments are never silently dropped, and the input forms people have (ids, tensors, tokenizer outputs) work."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM

import inseq
from inseq.models import huggingface_model


def _load(path: Path, method: str = "saliency", **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return inseq.load_model(str(path), method, **kwargs)


@pytest.fixture(scope="module")
def gpt2(tiny_model_path: Callable[[str], Path]) -> Any:
    return _load(tiny_model_path("gpt2"))


@pytest.fixture(scope="module")
def llama(tiny_model_path: Callable[[str], Path]) -> Any:
    return _load(tiny_model_path("llama"))


@pytest.fixture(scope="module")
def marian(tiny_model_path: Callable[[str], Path]) -> Any:
    return _load(tiny_model_path("marian"))


# ----------------------------------------------------------------------------- unused arguments
@pytest.mark.parametrize(
    ("method", "kwargs", "name"), [("saliency", {"n_stepz": 3}, "n_stepz"), ("saliency", {"n_steps": 3}, "n_steps")]
)
def test_unused_keyword_warns_naming_it(gpt2: Any, method: str, kwargs: dict[str, Any], name: str) -> None:
    with pytest.warns(UserWarning, match=f"Unused arguments during attribution.*{name}"):
        gpt2.attribute("the cat", "the cat sat", method=method, show_progress=False, **kwargs)


def test_generation_args_with_forced_targets_warn(gpt2: Any) -> None:
    with pytest.warns(UserWarning, match="generation_args.*max_new_tokens.*ignored"):
        gpt2.attribute("the cat", "the cat sat", generation_args={"max_new_tokens": 3}, show_progress=False)


def test_from_pretrained_keywords_reach_from_pretrained(
    tiny_model_path: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}
    original = AutoModelForCausalLM.from_pretrained

    def spy(name: str, **kwargs: Any) -> Any:
        seen.update(kwargs)
        kwargs.pop("device_map", None)
        return original(name, **kwargs)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", spy)
    model = _load(tiny_model_path("gpt2"), dtype=torch.float64, attn_implementation="eager", device_map="cpu")
    assert seen == {"dtype": torch.float64, "attn_implementation": "eager", "device_map": "cpu"}
    assert model.model.dtype == torch.float64
    assert model.model.config._attn_implementation == "eager"
    # the method options still reach the method, not from_pretrained
    layer = _load(tiny_model_path("gpt2"), "layer_integrated_gradients", target_layer="transformer.wte")
    assert layer.attribution_method.init_kwargs == {"target_layer": "transformer.wte"}


def test_device_map_without_accelerate_is_a_clear_error(
    tiny_model_path: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(huggingface_model, "is_accelerate_available", lambda: False)
    with pytest.raises(ImportError, match=r"accelerate.*inseq\[accelerate\]"):
        _load(tiny_model_path("gpt2"), device_map="cpu")


@pytest.mark.parametrize("name", ["gpt2", "marian"])
def test_num_return_sequences_is_a_clear_error(name: str, tiny_model_path: Callable[[str], Path]) -> None:
    model = _load(tiny_model_path(name))
    gen = {"num_return_sequences": 2, "num_beams": 2, "max_new_tokens": 3}
    with pytest.raises(ValueError, match="num_return_sequences"):
        model.attribute(["the cat", "a dog"], generation_args=gen, show_progress=False)


# ----------------------------------------------------------------------------- input forms
def test_tokenizer_encoding_is_attributed_as_its_rows(llama: Any) -> None:
    texts = ["the cat sat", "a dog"]
    enc = llama.tokenizer(texts, return_tensors="pt", padding=True)
    gen = {"max_new_tokens": 3}
    out = llama.attribute(enc, generation_args=gen, show_progress=False)
    ref = llama.attribute(texts, generation_args=gen, show_progress=False)
    assert len(out) == 2
    for a, b in zip(out, ref):
        assert [t.token for t in a.target] == [t.token for t in b.target]
        torch.testing.assert_close(a.target_attributions, b.target_attributions, equal_nan=True)


@pytest.mark.parametrize("form", ["list", "nested", "tensor1d", "tensor2d"])
def test_token_ids_as_inputs_and_targets_decoder_only(llama: Any, form: str) -> None:
    prompt, text = "the cat", "the cat sat on the mat"
    p_ids, t_ids = llama.tokenizer(prompt).input_ids, llama.tokenizer(text).input_ids
    wrap = {
        "list": lambda x: x,
        "nested": lambda x: [x],
        "tensor1d": torch.tensor,
        "tensor2d": lambda x: torch.tensor([x]),
    }[form]
    out = llama.attribute(wrap(p_ids), wrap(t_ids), show_progress=False)
    ref = llama.attribute(prompt, text, show_progress=False)
    # special tokens (the <s> the tokenizer wrote) stay tokens, not re-tokenised text
    assert [t.id for t in out[0].target] == t_ids
    assert out[0].attr_pos_start == ref[0].attr_pos_start == len(p_ids)
    torch.testing.assert_close(out[0].target_attributions, ref[0].target_attributions, equal_nan=True)


def test_token_ids_as_inputs_and_targets_encoder_decoder(marian: Any) -> None:
    src_ids = marian.tokenizer("the cat sat").input_ids
    tgt_ids = marian.tokenizer(text_target="the cat").input_ids
    out = marian.attribute(torch.tensor([src_ids]), [tgt_ids], show_progress=False)
    ref = marian.attribute("the cat sat", "the cat", show_progress=False)
    assert [t.id for t in out[0].source] == src_ids
    assert [t.id for t in out[0].target] == [marian.bos_token_id, *tgt_ids]
    torch.testing.assert_close(out[0].source_attributions, ref[0].source_attributions)


def test_bad_input_type_names_what_is_valid(gpt2: Any) -> None:
    with pytest.raises(TypeError, match="token ids"):
        gpt2.attribute([1.5, "x"], show_progress=False)
