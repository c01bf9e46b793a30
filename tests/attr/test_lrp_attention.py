"""AttnLRP / CP-LRP through the fused ``scaled_dot_product_attention`` (issue 21): no ``L x L`` map, same relevance.

Through one attention block AttnLRP's rules (uniform on ``Q K^T`` and ``A V``, the plain softmax gradient between)
are SDPA's own backward with the gradients of the queries and keys scaled by 1/4 and of the values by 1/2; CP-LRP
gives queries and keys none and values the plain gradient. Checked on the function, then on tiny models against the
eager composition under the rules, and by recording every tensor the attribution creates.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

import inseq
from inseq.attr.feat.lrp.attention import attention_implementations, needs_eager_attention
from inseq.attr.feat.lrp.rules import LRPFunctionMode, RuleReport, decomposed_sdpa, lrp_rules, lrp_sdpa

ARCHS = ("gpt2", "llama", "bart", "t5")
DEC_PROMPT, DEC_TEXT = "The small cat", "The small cat sees the dog"
ENC_TEXT, ENC_TARGET = "The small cat sees the dog", "The dog sees"


def _qkv(heads: int = 4, kv_heads: int = 4, lq: int = 5, lk: int = 5) -> tuple[torch.Tensor, ...]:
    torch.manual_seed(0)
    q = torch.randn(2, heads, lq, 8, requires_grad=True)
    k = torch.randn(2, kv_heads, lk, 8, requires_grad=True)
    v = torch.randn(2, kv_heads, lk, 8, requires_grad=True)
    return q, k, v


MASKS: dict[str, Callable[[int, int], dict[str, Any]]] = {
    "causal": lambda lq, lk: {"is_causal": True},
    "bool mask": lambda lq, lk: {"attn_mask": torch.rand(lq, lk) > 0.3},
    "float mask": lambda lq, lk: {"attn_mask": torch.randn(1, 1, lq, lk)},
    "none": lambda lq, lk: {},
}


@pytest.mark.parametrize("mask", list(MASKS))
@pytest.mark.parametrize("gqa", [False, True])
def test_lrp_sdpa_is_sdpa_backward_rescaled(mask: str, gqa: bool) -> None:
    q, k, v = _qkv(kv_heads=2 if gqa else 4)
    kwargs = MASKS[mask](5, 5) | ({"enable_gqa": True} if gqa else {})
    if mask == "bool mask":
        kwargs["attn_mask"][:, 0] = True  # no fully masked row
    upstream = torch.randn(2, 4, 5, 8)
    plain = torch.autograd.grad((F.scaled_dot_product_attention(q, k, v, **kwargs) * upstream).sum(), (q, k, v))
    for constant, factors in ((False, (0.25, 0.25, 0.5)), (True, (0.0, 0.0, 1.0))):
        out = lrp_sdpa(q, k, v, constant_weights=constant, **kwargs)
        assert torch.equal(out, F.scaled_dot_product_attention(q, k, v, **kwargs))  # forward bit-identical
        got = torch.autograd.grad((out * upstream).sum(), (q, k, v), allow_unused=True)
        for g, p, factor in zip(got, plain, factors, strict=True):
            if factor == 0.0:
                assert g is None or torch.count_nonzero(g) == 0
            else:
                torch.testing.assert_close(g, p * factor, atol=1e-6, rtol=1e-5)
        # and equal to the eager composition (matmul, softmax, matmul) under the rules
        ref = decomposed_sdpa(q, k, v, constant_weights=constant, **kwargs)
        want = torch.autograd.grad((ref * upstream).sum(), (q, k, v), allow_unused=True)
        for g, w in zip(got, want, strict=True):
            if w is None:
                assert g is None or torch.count_nonzero(g) == 0
            else:
                torch.testing.assert_close(g, w, atol=1e-5, rtol=1e-4)


def test_sdpa_under_the_mode_keeps_the_fused_call() -> None:
    q, k, v = _qkv()
    seen: list[str] = []

    class Record(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            seen.append(str(func))
            return func(*args, **(kwargs or {}))

    report = RuleReport()
    with LRPFunctionMode(False, report), Record():
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        torch.autograd.grad(out.sum(), (q, k, v))
    assert report.counts == {"softmax": 1}
    assert not any("softmax" in name for name in seen) and not any("aten.bmm" in name for name in seen), seen


@pytest.fixture(scope="module")
def loaded(tiny_model_path: Callable[[str], Path]) -> Callable[[str], Any]:
    cache: dict[str, Any] = {}

    def _get(name: str) -> Any:
        if name not in cache:
            cache[name] = inseq.load_model(str(tiny_model_path(name)), "attnlrp")
        return cache[name]

    return _get


def _embeds(model: Any) -> tuple[list[torch.Tensor], dict[str, torch.Tensor]]:
    """Input embeddings (encoder and decoder ones for encoder-decoder models) and the model's keyword arguments."""
    if model.is_encoder_decoder:
        ids = model.encode(ENC_TEXT).input_ids
        src, tgt = (model.embed_ids(ids).detach().requires_grad_(True) for _ in range(2))
        return [src, tgt], {"inputs_embeds": src, "decoder_inputs_embeds": tgt}
    embeds = model.embed_ids(model.encode(DEC_TEXT).input_ids).detach().requires_grad_(True)
    return [embeds], {"inputs_embeds": embeds}


@pytest.mark.parametrize("constant", [False, True], ids=["attnlrp", "cp_lrp"])
@pytest.mark.parametrize("arch", ARCHS)
def test_fused_attention_gives_the_eager_relevance(loaded: Callable[[str], Any], arch: str, constant: bool) -> None:
    model = loaded(arch)
    hf = model.model
    relevances, counts = [], []
    for eager in (True, False):
        embeds, kwargs = _embeds(model)
        with lrp_rules(hf, constant_attention=constant, eager=model.eager_attention if eager else None) as report:
            logits = hf(**kwargs, use_cache=False).logits
            logit = logits[0, -1, 5] + logits[0, -2, 7]
        grads = torch.autograd.grad(logit, embeds)
        relevances.append([e * g for e, g in zip(embeds, grads, strict=True)])
        counts.append(report.counts.get("softmax", 0))
    assert counts[0] == counts[1] > 0
    for eager_rel, fused_rel in zip(*relevances, strict=True):
        assert torch.count_nonzero(eager_rel) > 0
        torch.testing.assert_close(fused_rel, eager_rel, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("method", ["attnlrp", "cp_lrp"])
@pytest.mark.parametrize("arch", ARCHS)
def test_public_api_keeps_sdpa_and_gives_the_eager_relevance(
    loaded: Callable[[str], Any], arch: str, method: str
) -> None:
    model = loaded(arch)
    assert "sdpa" in attention_implementations(model.model) and not needs_eager_attention(model.model)

    def run() -> Any:
        if model.is_encoder_decoder:
            return model.attribute(ENC_TEXT, ENC_TARGET, method=method, attribute_target=True, show_progress=False)[0]
        return model.attribute(DEC_PROMPT, DEC_TEXT, method=method, show_progress=False)[0]

    fused = run()
    with model.eager_attention():
        eager = run()
    for name in ("source_attributions", "target_attributions"):
        got, want = getattr(fused, name), getattr(eager, name)
        if want is None:
            assert got is None
            continue
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5, equal_nan=True)


class _SquareMaps(TorchDispatchMode):
    """Records the largest floating tensor whose two last dimensions are both at least ``length`` (attention maps)."""

    def __init__(self, length: int) -> None:
        super().__init__()
        self.length = length
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, tuple | list) else (out,):
            if isinstance(t, torch.Tensor) and t.is_floating_point() and t.ndim >= 2:
                if t.shape[-1] >= self.length and t.shape[-2] >= self.length:
                    self.largest = max(self.largest, t.numel() * t.element_size())
        return out


@pytest.mark.parametrize("method", ["attnlrp", "cp_lrp"])
def test_no_attention_map_on_a_long_prompt(loaded: Callable[[str], Any], method: str) -> None:
    model = loaded("llama")
    prompt = " ".join(["the small cat sees the dog and"] * 28)
    length = len(model.encode(prompt).input_ids[0])
    text = prompt + " the dog"
    full = len(model.encode(text).input_ids[0])
    assert 150 <= full <= 256, full
    sizes = {}
    for eager in (True, False):
        recorder = _SquareMaps(length)
        context = model.eager_attention() if eager else nullcontext()
        with context, recorder:
            out = model.attribute(prompt, text, method=method, show_progress=False)[0]
        sizes[eager] = recorder.largest
        assert out.target_attributions.shape[1] == full - length
    assert sizes[True] >= 4 * 4 * length**2  # eager attention: maps of heads x L x L (the check can see them)
    assert sizes[False] == 0, f"{method} created a {sizes[False]}-byte tensor of at least {length} x {length}"


@pytest.mark.parametrize(
    ("implementation", "eager"),
    [("sdpa", False), ("eager", False), ("flash_attention_2", True), ("flex_attention", True)],
)
def test_only_kernels_the_rules_cannot_see_are_switched_to_eager(implementation: str, eager: bool) -> None:
    class Config:
        _attn_implementation = implementation

    class WithConfig(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.config = Config()
            self.inner = torch.nn.Linear(2, 2)

    model = torch.nn.Sequential(WithConfig())
    assert attention_implementations(model) == {implementation}
    assert needs_eager_attention(model) is eager
