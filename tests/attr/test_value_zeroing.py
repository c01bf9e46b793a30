"""Value zeroing under the memory budgets, fused QKV layouts found by behaviour, NaN cells of inseq 0.7.1."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

import inseq
from inseq.testing.tiny_models import get_tiny_corpus
from inseq.utils.budgets import memory_budgets


@pytest.fixture(scope="module")
def gpt2(tiny_model_path: Callable[[str], Path]) -> inseq.AttributionModel:
    return inseq.load_model(str(tiny_model_path("gpt2")), "value_zeroing")


def _text(model: inseq.AttributionModel, n_tokens: int) -> str:
    """Corpus sentences joined until just under ``n_tokens`` tokens."""
    text = ""
    for sentence in get_tiny_corpus():
        longer = f"{text} {sentence}".strip()
        if len(model.tokenizer(longer)["input_ids"]) > n_tokens:
            return text
        text = longer
    raise AssertionError("corpus too short")


class _LayerCalls:
    """Records ``rows x tokens`` of every call of the model's layers."""

    def __init__(self, layers: list[torch.nn.Module]) -> None:
        self.sizes: list[tuple[int, int]] = []
        self.handles = [layer.register_forward_pre_hook(self._hook, with_kwargs=True) for layer in layers]

    def _hook(self, module: torch.nn.Module, args: Any, kwargs: dict[str, Any]) -> None:
        hidden = args[0] if args else kwargs["hidden_states"]
        self.sizes.append((hidden.shape[0], hidden.shape[1]))

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def _run(model: inseq.AttributionModel, text: str, **kwargs: Any) -> tuple[torch.Tensor, list[tuple[int, int]]]:
    calls = _LayerCalls(model.structure().decoder_layers)
    try:
        prompt = text.rsplit(" ", 1)[0]
        out = model.attribute(prompt, text, show_progress=False, **kwargs)
    finally:
        calls.remove()
    return out[0].target_attributions, calls.sizes


@pytest.mark.parametrize("budget", [256, 1024])
def test_rows_per_layer_call_follow_the_budget_not_the_length(gpt2: inseq.AttributionModel, budget: int) -> None:
    lengths = []
    for n_tokens in (60, 200):
        text = _text(gpt2, n_tokens)
        with memory_budgets(zeroed_tokens=budget):
            _, sizes = _run(gpt2, text)
        length = max(t for _, t in sizes)
        lengths.append(length)
        # every layer call holds at most `budget` tokens (one copy when even one does not fit), as many as fit
        assert max(rows * tokens for rows, tokens in sizes) <= max(budget, length)
        assert max(rows for rows, _ in sizes) == min(length, max(1, budget // length))
        assert len(sizes) >= 2 * length / max(1, budget // length)  # 2 layers, every token zeroed
    assert lengths[1] > 3 * lengths[0]
    # at 240 tokens the default budget stacks 8 copies per layer call (inseq 0.7 zeroes one token at a time)
    _, sizes = _run(gpt2, _text(gpt2, 240))
    length = max(t for _, t in sizes)
    assert max(rows for rows, _ in sizes) == 2048 // length


def test_the_budget_does_not_change_the_scores(gpt2: inseq.AttributionModel) -> None:
    text = _text(gpt2, 50)
    reference, _ = _run(gpt2, text, tokens_per_eval=1)
    with memory_budgets(zeroed_tokens=1):
        one, sizes = _run(gpt2, text)
    assert max(rows for rows, _ in sizes) == 1
    default, _ = _run(gpt2, text)
    torch.testing.assert_close(one, reference, equal_nan=True, atol=1e-6, rtol=0)
    torch.testing.assert_close(default, reference, equal_nan=True, atol=1e-6, rtol=0)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "8"])
def test_tokens_per_eval_is_checked(gpt2: inseq.AttributionModel, bad: Any) -> None:
    with pytest.raises(ValueError, match=f"tokens_per_eval must be a positive integer or None .*got {bad!r}"):
        gpt2.attribute("Hello world", "Hello world and this", tokens_per_eval=bad, show_progress=False)


# --- fused query_key_value layouts, found by behaviour ---------------------------------------------------------


def _fused_models(tokenizer_size: int) -> dict[str, torch.nn.Module]:
    """Tiny random GPT-NeoX and Falcon models built from their configurations (offline)."""
    from transformers import FalconConfig, FalconForCausalLM, GPTNeoXConfig, GPTNeoXForCausalLM

    common = {"vocab_size": tokenizer_size, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4}
    torch.manual_seed(0)
    models = {
        "neox": GPTNeoXForCausalLM(GPTNeoXConfig(**common, intermediate_size=64, max_position_embeddings=128)),
        "falcon_multi_query": FalconForCausalLM(FalconConfig(**common, multi_query=True)),
        "falcon_grouped": FalconForCausalLM(FalconConfig(**common, new_decoder_architecture=True, num_kv_heads=2)),
    }
    return {name: model.eval() for name, model in models.items()}


@pytest.fixture(scope="module")
def fused(tiny_model_path: Callable[[str], Path]) -> dict[str, inseq.AttributionModel]:
    path = str(tiny_model_path("gpt2"))
    size = len(inseq.load_model(path, "value_zeroing").tokenizer)
    return {name: inseq.load_model(hf, "value_zeroing", tokenizer=path) for name, hf in _fused_models(size).items()}


def _zero_value_reference(model: inseq.AttributionModel, text: str, p: int) -> torch.Tensor:
    """``(p, layers)`` value zeroing of the query ``p - 1`` (euclidean), zeroing values where the model splits them.

    GPT-NeoX: the fused output viewed as ``(heads, 3, head_dim)``, values at index 2; Falcon: the value tensor its
    ``_split_heads`` returns. Layer ``i`` is recomputed from its clean input by running the model with only layer
    ``i`` corrupted and reading that layer's output.
    """
    hf = model.model
    ids = torch.tensor([model.tokenizer(text)["input_ids"]])
    layers = model.structure().decoder_layers
    outputs: dict[int, torch.Tensor] = {}
    handles = [
        b.register_forward_hook(lambda m, a, o, i=i: outputs.__setitem__(i, o[0] if isinstance(o, tuple) else o))
        for i, b in enumerate(layers)
    ]
    try:
        with torch.no_grad():
            hf(input_ids=ids, use_cache=False)
            clean = {i: outputs[i][0, p - 1].double() for i in outputs}
            scores = torch.zeros(p, len(layers))
            for i in range(len(layers)):
                attention = model.structure().decoder_self[i].attention
                for t in range(p):
                    undo = _zero_value_of(hf, attention, t)
                    try:
                        hf(input_ids=ids, use_cache=False)
                    finally:
                        undo()
                    scores[t, i] = (outputs[i][0, p - 1].double() - clean[i]).norm()
    finally:
        for handle in handles:
            handle.remove()
    scores[scores < 1e-5] = 0
    return scores / scores.sum(0, keepdim=True)


def _zero_value_of(hf: torch.nn.Module, attention: torch.nn.Module, t: int) -> Callable[[], None]:
    """Zero token ``t``'s value in the fused projection's output, from the layout the model's config declares."""
    config = hf.config
    heads, d = config.num_attention_heads, config.hidden_size // config.num_attention_heads

    def hook(module: torch.nn.Module, args: Any, out: torch.Tensor) -> torch.Tensor:
        out = out.clone()
        if getattr(config, "new_decoder_architecture", False):  # Falcon: per key/value group [q.., k, v]
            out.view(*out.shape[:2], config.num_kv_heads, -1, d)[:, t, :, -1] = 0
        elif getattr(config, "multi_query", False):  # Falcon: [Q | K | V], one key/value head
            out.view(*out.shape[:2], -1, d)[:, t, -1] = 0
        else:  # GPT-NeoX: per head [q, k, v]
            out.view(*out.shape[:2], heads, 3, d)[:, t, :, 2] = 0
        return out

    return attention.query_key_value.register_forward_hook(hook).remove


@pytest.mark.parametrize(
    ("name", "layout"), [("neox", "interleaved"), ("falcon_multi_query", "grouped"), ("falcon_grouped", "grouped")]
)
def test_fused_layout_is_found_by_behaviour(fused: dict[str, inseq.AttributionModel], name: str, layout: str) -> None:
    model = fused[name]
    text = "Hello world and this is"
    out = model.attribute("Hello world", text, show_progress=False, similarity_metric="euclidean")[0]
    site = model.structure().decoder_self[0]
    assert site.value_columns.layout == layout
    width, d = site.value.out_features, 32 // 4
    cols = site.value_columns(width, None).nonzero().flatten().tolist()
    if name == "falcon_multi_query":  # [Q | K | V]: the value head is the last d columns
        assert cols == list(range(width - d, width))
    if name == "falcon_grouped":  # per key/value group [q, q, k, v]
        assert cols == [*range(3 * d, 4 * d), *range(7 * d, 8 * d)]
    for j, p in enumerate(range(out.attr_pos_start, out.attr_pos_end)):
        expected = _zero_value_reference(model, text, p)
        torch.testing.assert_close(out.target_attributions[:p, j], expected, atol=1e-5, rtol=1e-4)


def test_fused_layout_that_fits_no_behaviour_is_refused(fused: dict[str, inseq.AttributionModel]) -> None:
    from inseq.attr.feat.internals.value_zeroing import decide_fused_layout
    from inseq.models.structure import _DECIDED

    model = fused["falcon_grouped"]
    site = model.structure().decoder_self[1]
    seen: dict[str, Any] = {}
    handle = site.block.register_forward_pre_hook(lambda m, a, kw: seen.update(args=a, kwargs=kw), with_kwargs=True)
    try:
        with torch.no_grad():
            model.model(input_ids=torch.tensor([[5, 6, 7]]), use_cache=False)
    finally:
        handle.remove()
    _DECIDED.pop(site.value, None)  # decided by the previous test
    site.value_columns.layouts = lambda width: {"contiguous": torch.arange(width) < 8}  # a wrong candidate only
    with pytest.raises(
        RuntimeError, match=r"FalconForCausalLM: cannot tell .* tried: \['contiguous'\], behaving as values: \[\]"
    ):
        decide_fused_layout(site, seen["args"], seen["kwargs"])
    assert site.value_columns.layout != "contiguous"


# --- decoder self-scores: NaN where inseq 0.7.1 puts NaN --------------------------------------------------------


def test_decoder_self_scores_hold_nan_for_tokens_not_yet_generated(tiny_model_path: Callable[[str], Path]) -> None:
    model = inseq.load_model(str(tiny_model_path("marian")), "value_zeroing")
    out = model.attribute(
        "Hello world", show_progress=False, similarity_metric="euclidean", generation_args={"max_new_tokens": 4}
    )[0]
    square = out.sequence_scores["decoder_self_scores"]  # (key, query, layers)
    n = square.shape[0]
    future = torch.ones(n, n, dtype=torch.bool).tril(-1)  # key after query
    assert n >= 3
    assert square[future].isnan().all()
    past = square[~future]
    assert not past.isnan().any()
    torch.testing.assert_close(past.view(-1, square.shape[-1]).sum() / square.shape[-1], torch.tensor(float(n)))


def test_clean_forward_computes_no_logits_beyond_the_last_position(gpt2: inseq.AttributionModel) -> None:
    seen: list[int] = []
    head = gpt2.model.get_output_embeddings()
    handle = head.register_forward_pre_hook(lambda m, a: seen.append(a[0].shape[1]))
    try:
        gpt2.attribute("Hello world", "Hello world and this is", show_progress=False)
    finally:
        handle.remove()
    assert seen == [1]  # the value zeroing pass reads layer outputs only
