"""The heap released at each block of a long pass (the ``release_mb`` budget): same attributions, hooks removed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import inseq
import inseq.attr.heap as heap
from inseq.attr.heap import releasing_blocks, wants_release
from inseq.utils.budgets import MemoryBudgets, memory_budgets

#: ~200 tokens: a pass over it holds more than 1 MiB on every tiny model.
PROMPT = " ".join(["the cat sees the dog in the park"] * 25)
CASES = [
    ("gpt2", "saliency"),
    ("gpt2", "integrated_gradients"),
    ("gpt2", "attnlrp"),
    ("llama", "input_x_gradient"),
    ("bart", "saliency"),
]


def _attribute(model: inseq.AttributionModel, method: str) -> list[torch.Tensor]:
    kwargs = {"n_steps": 3} if method == "integrated_gradients" else {}
    if model.is_encoder_decoder:
        kwargs["generation_args"] = {"max_new_tokens": 3}
        out = model.attribute(PROMPT, show_progress=False, attribute_target=True, **kwargs)[0]
    else:
        out = model.attribute(PROMPT, PROMPT + " and the bird", show_progress=False, **kwargs)[0]
    return [t for t in (out.source_attributions, out.target_attributions) if t is not None]


@pytest.fixture
def glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``malloc_trim`` that does nothing where the C library has none, so the hooks run on every platform."""
    if heap._malloc_trim() is None:
        monkeypatch.setattr(heap, "_malloc_trim", lambda: lambda pad: 0)


@pytest.mark.usefixtures("glibc")
@pytest.mark.parametrize(("name", "method"), CASES)
def test_released_attributions_are_the_same(
    tiny_model_path: Callable[[str], Path], count_calls: Callable, name: str, method: str
) -> None:
    model = inseq.load_model(str(tiny_model_path(name)), method)
    counter = count_calls(heap, "release_heap")
    plain = _attribute(model, method)
    assert counter.calls == 0  # a tiny model's pass is far under the default budget
    with memory_budgets(release_mb=1):
        released = _attribute(model, method)
    blocks = len(heap.transformer_blocks(model))
    assert counter.calls >= 2 * blocks  # after each block's forward and before its backward, in every pass
    assert len(plain) == len(released)
    for a, b in zip(plain, released, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True)
    assert all(not block._forward_hooks for block in heap.transformer_blocks(model))


def test_releasing_blocks_counts_and_removes_hooks() -> None:
    blocks = [torch.nn.Linear(3, 3), torch.nn.Linear(3, 3)]
    x = torch.randn(2, 3, requires_grad=True)
    with releasing_blocks(blocks) as stats:
        y = blocks[1](blocks[0](x)).sum()
        with torch.no_grad():
            blocks[0](x)  # no gradient: released after the forward, no backward hook
    y.backward()  # after the block: the gradient hooks of its outputs still fire
    assert (stats.blocks, stats.forwards, stats.backwards) == (2, 3, 2)
    assert not blocks[0]._forward_hooks and not blocks[1]._forward_hooks


def test_releasing_blocks_removes_hooks_on_error() -> None:
    block = torch.nn.Linear(3, 3)
    with pytest.raises(RuntimeError, match="boom"), releasing_blocks([block]):
        raise RuntimeError("boom")
    assert not block._forward_hooks


def test_block_outputs_in_tuples_get_the_backward_hook() -> None:
    class Pair(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
            return x * 2, None

    x = torch.randn(2, requires_grad=True)
    block = Pair()
    with releasing_blocks([block]) as stats:
        hidden, _ = block(x)
    hidden.sum().backward()
    assert (stats.forwards, stats.backwards) == (1, 1)


@pytest.mark.usefixtures("glibc")
def test_who_releases() -> None:
    net = torch.nn.Linear(1024, 1024)
    assert not wants_release(net, 16)  # one row under the default budget
    with memory_budgets(release_mb=1):
        assert wants_release(net, 4096)
        assert not wants_release(torch.nn.Linear(1024, 1024, device="meta"), 4096)  # not on the CPU
    with memory_budgets(release_mb=None):
        assert not wants_release(net, 4096)


def test_no_malloc_trim_means_no_release(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heap, "_malloc_trim", lambda: None)
    assert heap.release_heap() is False
    with memory_budgets(release_mb=1):
        assert not wants_release(torch.nn.Linear(1024, 1024), 4096)


def test_release_budget_is_validated() -> None:
    assert MemoryBudgets().release_mb == 256
    with pytest.raises(ValueError, match="release_mb must be None or a positive integer, got 0"):
        MemoryBudgets(release_mb=0)
