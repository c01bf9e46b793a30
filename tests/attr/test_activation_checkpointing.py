"""Activation checkpointing (the ``checkpoint_mb`` budget): same attributions, blocks recomputed, nothing left behind."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import inseq
import inseq.attr.checkpointing as checkpointing
from inseq.attr.checkpointing import checkpointed_blocks, pass_mb, recompute_with, wants_checkpointing
from inseq.utils.budgets import MemoryBudgets, get_budgets, memory_budgets

#: ~200 tokens: a pass over it holds more than 1 MiB on every tiny model (about 6-13 KiB a token row).
PROMPT = " ".join(["the cat sees the dog in the park"] * 25)
ATOL = 1e-5
CASES = [
    ("gpt2", "saliency"),
    ("gpt2", "input_x_gradient"),
    ("gpt2", "integrated_gradients"),
    ("gpt2", "attnlrp"),
    ("gpt2", "cp_lrp"),
    ("llama", "saliency"),
    ("llama", "input_x_gradient"),
    ("llama", "integrated_gradients"),
    ("llama", "attnlrp"),
    ("bart", "saliency"),
    ("bart", "integrated_gradients"),
    ("bart", "attnlrp"),
]


def _attribute(model: inseq.AttributionModel, method: str) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    encoder_decoder = model.is_encoder_decoder
    kwargs = {"n_steps": 4} if method == "integrated_gradients" else {}
    if method.endswith("lrp"):
        kwargs["attributed_fn"] = "logit"
    target = None if encoder_decoder else PROMPT + " and the bird"
    if encoder_decoder:
        kwargs["generation_args"] = {"max_new_tokens": 3}
    out = model.attribute(
        PROMPT,
        target,
        show_progress=False,
        attribute_target=encoder_decoder,
        **kwargs,
    )[0]
    return out.target_attributions, out.source_attributions


def _blocks(model: inseq.AttributionModel) -> list[torch.nn.Module]:
    return checkpointing.transformer_blocks(model)


@pytest.mark.parametrize(("name", "method"), CASES)
def test_checkpointed_attributions_are_the_same(
    tiny_model_path: Callable[[str], Path], count_calls: Callable, name: str, method: str
) -> None:
    model = inseq.load_model(str(tiny_model_path(name)), method)
    spy = count_calls(checkpointing, "checkpoint")
    plain = _attribute(model, method)
    assert spy.calls == 0  # off by default
    with memory_budgets(checkpoint_mb=1):
        checkpointed = _attribute(model, method)
    assert spy.calls >= len(_blocks(model))  # every block of at least one pass ran checkpointed
    compared = 0
    for expected, got in zip(plain, checkpointed, strict=True):
        if expected is None:
            assert got is None
            continue
        compared += 1
        torch.testing.assert_close(got, expected, atol=ATOL, rtol=0, equal_nan=True)
    assert compared >= 1
    assert all("forward" not in vars(block) for block in _blocks(model))


def test_blocks_are_recomputed_in_the_backward(tiny_model_path: Callable[[str], Path]) -> None:
    model = inseq.load_model(str(tiny_model_path("gpt2")), "saliency")
    # a module inside each block runs again when the block is recomputed (a pre-hook: the recomputation stops once
    # the tensors the backward needs are back, which can be before the forward hooks of the block's last module)
    inner = [block.attn for block in _blocks(model)]
    counts = [0] * len(inner)
    handles = [
        m.register_forward_pre_hook(lambda *_, i=i: counts.__setitem__(i, counts[i] + 1)) for i, m in enumerate(inner)
    ]
    try:
        _attribute(model, "saliency")
        plain = list(counts)
        counts[:] = [0] * len(inner)
        with memory_budgets(checkpoint_mb=1):
            _attribute(model, "saliency")
    finally:
        for handle in handles:
            handle.remove()
    assert min(plain) >= 1
    assert counts == [2 * n for n in plain]


def test_off_by_default_and_under_the_budget(tiny_model_path: Callable[[str], Path], count_calls: Callable) -> None:
    assert get_budgets().checkpoint_mb is None
    model = inseq.load_model(str(tiny_model_path("gpt2")), "saliency")
    estimate = pass_mb(model.model, 1, 210)
    assert 1 < estimate < 2
    assert not wants_checkpointing(model.model, 1, 210)
    with memory_budgets(checkpoint_mb=2):
        assert not wants_checkpointing(model.model, 1, 210)
        assert wants_checkpointing(model.model, 2, 210)
    spy = count_calls(checkpointing, "checkpoint")
    _attribute(model, "saliency")
    with memory_budgets(checkpoint_mb=1024):  # the estimate is far below: nothing is checkpointed
        _attribute(model, "saliency")
    assert spy.calls == 0


def test_forwards_are_restored_after_an_error(tiny_model_path: Callable[[str], Path]) -> None:
    model = inseq.load_model(str(tiny_model_path("gpt2")), "saliency")
    blocks = _blocks(model)
    originals = [block.forward for block in blocks]

    def fail(module, args, output):
        raise RuntimeError("boom")

    handle = model.model.get_output_embeddings().register_forward_hook(fail)
    try:
        with memory_budgets(checkpoint_mb=1), pytest.raises(RuntimeError, match="boom"):
            _attribute(model, "saliency")
    finally:
        handle.remove()
    assert all("forward" not in vars(block) for block in blocks)
    assert [block.forward for block in blocks] == originals
    with pytest.raises(ValueError, match="inside"), checkpointed_blocks(blocks) as stats:
        assert stats.blocks == len(blocks) and all("forward" in vars(block) for block in blocks)
        raise ValueError("inside")
    assert all("forward" not in vars(block) for block in blocks)


def test_an_instance_forward_is_put_back() -> None:
    layer = torch.nn.Linear(3, 3)
    own = layer.forward  # e.g. installed by accelerate's hooks: an instance attribute
    layer.forward = own
    with checkpointed_blocks([layer]) as stats:
        assert layer.forward is not own
        with checkpointed_blocks([layer]) as nested:  # already wrapped: left as it is
            assert nested.blocks == 0
        y = layer(torch.randn(2, 3, requires_grad=True)).sum()
    y.backward()
    assert stats.calls == 1
    assert vars(layer)["forward"] is own


def test_calls_with_a_cache_or_without_gradients_run_plainly() -> None:
    class Block(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(3, 3)

        def forward(self, x, past_key_values=None):
            if past_key_values is not None:
                past_key_values.append(x)  # what a cache update does: must happen once per call
            return self.linear(x)

    block, cache = Block(), []
    x = torch.randn(2, 3, requires_grad=True)
    with checkpointed_blocks([block]) as stats:
        block(x, past_key_values=cache).sum().backward()
        with torch.no_grad():
            block(x)
    assert stats.calls == 0 and len(cache) == 1


def test_a_dynamic_cache_is_filled_once(tiny_model_path: Callable[[str], Path]) -> None:
    model = inseq.load_model(str(tiny_model_path("llama")), "saliency")
    hf = model.model
    embeds = hf.get_input_embeddings()(torch.tensor([[5, 6, 7, 8]])).detach().requires_grad_(True)
    with checkpointed_blocks(_blocks(model)) as stats:
        out = hf(inputs_embeds=embeds, use_cache=True)
    out.logits.sum().backward()
    assert stats.calls == 0
    assert out.past_key_values.get_seq_length() == 4


def test_recompute_contexts_are_entered_in_each_recomputation() -> None:
    entered: list[int] = []

    class Mark:
        def __enter__(self):
            entered.append(1)

        def __exit__(self, *exc):
            return False

    layer = torch.nn.Linear(3, 3)
    x = torch.randn(2, 3, requires_grad=True)
    with recompute_with(Mark), checkpointed_blocks([layer]):
        y = layer(x).sum()
    assert entered == []  # not in the forward
    torch.autograd.grad(y, x, retain_graph=True)
    torch.autograd.grad(y, x)
    assert entered == [1, 1]


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "512"])
def test_checkpoint_budget_validation(value: object) -> None:
    with pytest.raises(
        ValueError, match="checkpoint_mb must be None or a positive integer, got " + re.escape(repr(value))
    ):
        MemoryBudgets(checkpoint_mb=value)
    with pytest.raises(ValueError, match="checkpoint_mb"), memory_budgets(checkpoint_mb=value):
        pass
    assert MemoryBudgets(checkpoint_mb=None).checkpoint_mb is None
    assert MemoryBudgets(checkpoint_mb=512).checkpoint_mb == 512
