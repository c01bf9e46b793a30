"""Budgets never slow small inputs: integrated gradients on a short input stacks all its steps in one pass."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

import inseq
from inseq.utils.budgets import get_budgets, memory_budgets


def _forwards(model: inseq.AttributionModel, text: str, **kwargs) -> tuple[int, torch.Tensor]:
    calls: list[int] = []
    handle = model.model.register_forward_pre_hook(lambda m, a, kw: calls.append(1), with_kwargs=True)
    try:
        out = model.attribute("Hello world", text, n_steps=50, show_progress=False, **kwargs)
    finally:
        handle.remove()
    return len(calls), out[0].target_attributions


def test_integrated_gradients_on_a_short_input_runs_one_pass(tiny_model_path: Callable[[str], Path]) -> None:
    model = inseq.load_model(str(tiny_model_path("gpt2")), "integrated_gradients")
    assert get_budgets().backward_tokens == 1024  # the default budget
    n, stacked = _forwards(model, "Hello world and this")
    assert n == 1
    with memory_budgets(small_pass_mb=1):  # the token budgets alone: still far fewer than one pass per step
        n_split, split = _forwards(model, "Hello world and this")
    assert 1 < n_split < 50
    n_one, one = _forwards(model, "Hello world and this", internal_batch_size=1)
    assert n_one >= 50  # one point per pass
    torch.testing.assert_close(stacked, split, equal_nan=True, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(stacked, one, equal_nan=True, atol=1e-6, rtol=1e-5)
