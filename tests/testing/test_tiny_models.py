"""Tests for the offline tiny-model kit in :mod:`inseq.testing`."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

from inseq.testing import TINY_MODEL_NAMES, build_tiny_model, get_tiny_model_path, is_encoder_decoder

pytestmark = pytest.mark.filterwarnings("ignore:Recommended. pip install sacremoses")

TEXT = "Hello world, the quick brown fox jumps over the lazy dog."


def _load_model(path: Path, name: str, **kwargs: object) -> torch.nn.Module:
    cls = AutoModelForSeq2SeqLM if is_encoder_decoder(name) else AutoModelForCausalLM
    return cls.from_pretrained(path, **kwargs).eval()


def _logits(model: torch.nn.Module, name: str, input_ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        if is_encoder_decoder(name):
            start = model.config.decoder_start_token_id
            decoder_input_ids = torch.tensor([[start, *input_ids[0, :3].tolist()]])
            return model(input_ids=input_ids, decoder_input_ids=decoder_input_ids).logits
        return model(input_ids=input_ids).logits


def test_names() -> None:
    assert set(TINY_MODEL_NAMES) == {"gpt2", "llama", "qwen2", "gpt_neox", "bart", "t5", "marian"}
    assert [n for n in TINY_MODEL_NAMES if is_encoder_decoder(n)] == ["bart", "t5", "marian"]
    with pytest.raises(ValueError, match="Unknown tiny model"):
        is_encoder_decoder("bert")


@pytest.mark.parametrize("name", TINY_MODEL_NAMES)
def test_tiny_model_loads_and_runs(name: str, tiny_model_path: Callable[[str], Path]) -> None:
    path = tiny_model_path(name)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = _load_model(path, name)
    config = model.config
    assert config.is_encoder_decoder == is_encoder_decoder(name)
    assert config.vocab_size >= len(tokenizer)
    assert sum(p.numel() for p in model.parameters()) < 1_000_000

    # Special tokens: unk (inseq baselines), pad and eos must exist and agree with the config.
    for attr in ("unk_token_id", "pad_token_id", "eos_token_id"):
        assert getattr(tokenizer, attr) is not None, attr
    assert len({tokenizer.unk_token_id, tokenizer.eos_token_id}) == 2
    assert config.pad_token_id == tokenizer.pad_token_id
    assert config.eos_token_id == tokenizer.eos_token_id
    if tokenizer.bos_token_id is not None:
        assert config.bos_token_id == tokenizer.bos_token_id
    if config.is_encoder_decoder:
        assert config.decoder_start_token_id is not None

    # Tokenization round-trip.
    input_ids = tokenizer(TEXT, return_tensors="pt").input_ids
    assert input_ids.shape[1] > 5
    assert tokenizer.unk_token_id not in input_ids[0].tolist()
    assert tokenizer.decode(input_ids[0], skip_special_tokens=True) == TEXT

    logits = _logits(model, name, input_ids)
    assert logits.shape[-1] == config.vocab_size
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("name", TINY_MODEL_NAMES)
def test_tiny_model_eager_and_sdpa_agree(name: str, tiny_model_path: Callable[[str], Path]) -> None:
    path = tiny_model_path(name)
    input_ids = AutoTokenizer.from_pretrained(path)(TEXT, return_tensors="pt").input_ids
    eager = _logits(_load_model(path, name, attn_implementation="eager"), name, input_ids)
    try:
        sdpa_model = _load_model(path, name, attn_implementation="sdpa")
    except ValueError as err:  # architectures without an SDPA implementation
        pytest.skip(f"{name} does not support sdpa: {err}")
    torch.testing.assert_close(_logits(sdpa_model, name, input_ids), eager, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", TINY_MODEL_NAMES)
def test_build_is_deterministic(name: str, tmp_path: Path) -> None:
    first = build_tiny_model(name, tmp_path / "a", seed=0)
    second = build_tiny_model(name, tmp_path / "b", seed=0)
    other = build_tiny_model(name, tmp_path / "c", seed=1)
    weights_a = load_file(first / "model.safetensors")
    weights_b = load_file(second / "model.safetensors")
    weights_c = load_file(other / "model.safetensors")
    assert weights_a.keys() == weights_b.keys()
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    assert not all(torch.equal(weights_a[k], weights_c[k]) for k in weights_a)
    assert AutoTokenizer.from_pretrained(first).get_vocab() == AutoTokenizer.from_pretrained(second).get_vocab()
    for file in ("config.json", "tokenizer_config.json"):
        assert (first / file).read_text() == (second / file).read_text()


def test_get_tiny_model_path_caches_and_tolerates_races(tmp_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        paths = list(pool.map(lambda _: get_tiny_model_path("gpt2", tmp_path), range(2)))
    assert paths[0] == paths[1]
    assert [p.name for p in tmp_path.iterdir()] == [paths[0].name]  # no temporary folder left behind
    marker = json.loads((paths[0] / "inseq_tiny_model.json").read_text())
    assert marker["name"] == "gpt2"
    assert get_tiny_model_path("gpt2", tmp_path) == paths[0]


def test_named_fixtures(tiny_gpt2_path: Path, tiny_t5_path: Path) -> None:
    assert (tiny_gpt2_path / "config.json").is_file()
    assert AutoConfig.from_pretrained(tiny_t5_path).model_type == "t5"
