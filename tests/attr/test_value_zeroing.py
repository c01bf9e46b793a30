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
