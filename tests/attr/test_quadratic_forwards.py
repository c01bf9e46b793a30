"""Quadratic methods announce their perturbed rows (and warn above ``quadratic_forwards``); occlusion ``spans=``."""

from __future__ import annotations

import logging
import warnings

import pytest
import torch

import inseq
from inseq.attr.feat.perturbation import lime as lime_module
from inseq.testing.reference import ReferenceExample, encode_example, prefix_logits
from inseq.utils.budgets import memory_budgets
from inseq.utils.errors import QuadraticForwardsWarning

INPUTS = ["Hello world", "The cat"]
TARGETS = ["Hello world, this is", "The cat sees the dog in"]


@pytest.fixture(scope="module")
def gpt2(tiny_model_path) -> inseq.AttributionModel:
    return inseq.load_model(str(tiny_model_path("gpt2")), "occlusion")


@pytest.fixture(scope="module")
def marian(tiny_model_path) -> inseq.AttributionModel:
    return inseq.load_model(str(tiny_model_path("marian")), "occlusion")


def _perturbed_rows(model: inseq.AttributionModel, **kwargs) -> tuple[int, list[str], list[str]]:
    """Rows of the perturbed forwards (those given embeddings: the clean forward takes ids), warnings, INFO logs."""
    rows = [0]

    def pre(module, args, call_kwargs):
        embeds = call_kwargs.get("inputs_embeds")
        if embeds is not None:
            rows[0] += embeds.shape[0]

    handle = model.model.register_forward_pre_hook(pre, with_kwargs=True)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    budget_logger = logging.getLogger("inseq.utils.budgets")
    budget_logger.addHandler(handler)
    old_level = budget_logger.level
    budget_logger.setLevel(logging.INFO)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.attribute(INPUTS, TARGETS, show_progress=False, **kwargs)
    finally:
        handle.remove()
        budget_logger.removeHandler(handler)
        budget_logger.setLevel(old_level)
    quadratic = [str(w.message) for w in caught if issubclass(w.category, QuadraticForwardsWarning)]
    return rows[0], quadratic, [r.getMessage() for r in records]


@pytest.mark.parametrize(("method", "kwargs"), [("occlusion", {}), ("lime", {"n_samples": 7})])
def test_announced_count_is_the_perturbed_rows_and_warns_above_the_budget(gpt2, method, kwargs) -> None:
    with memory_budgets(perturbed_rows=10**6):
        rows, quadratic, logs = _perturbed_rows(gpt2, method=method, **kwargs)
    announced = [m for m in logs if m.startswith(f"{method}: ")]
    assert announced == [f"{method}: {rows} forwards of up to 6 tokens"]
    if method == "lime":
        assert rows == 7 * len(INPUTS)
    else:  # 5 attributed prefix tokens (the longest attributed position), one window each, 2 examples
        assert rows == 5 * len(INPUTS)
    assert not quadratic  # default budget: 2000
    with memory_budgets(perturbed_rows=10**6, quadratic_forwards=rows):
        assert not _perturbed_rows(gpt2, method=method, **kwargs)[1]  # at the threshold: no warning
    with memory_budgets(perturbed_rows=10**6, quadratic_forwards=rows - 1):
        _, quadratic, _ = _perturbed_rows(gpt2, method=method, **kwargs)
    assert len(quadratic) == 1
    assert f"{method} will run {rows} forwards" in quadratic[0]
    assert f"quadratic_forwards budget ({rows - 1})" in quadratic[0]
    assert f"memory_budgets(quadratic_forwards={rows})" in quadratic[0]
    if method == "occlusion":
        assert "spans=" in quadratic[0]


def test_value_zeroing_counts_its_layer_recomputations(gpt2) -> None:
    layers = gpt2.structure().decoder_layers
    seen: list[int] = []
    handles = [
        layer.register_forward_pre_hook(
            lambda m, a, k: seen.append(a[0].shape[0] if a else k["hidden_states"].shape[0]), with_kwargs=True
        )
        for layer in layers
    ]
    try:
        with memory_budgets(quadratic_forwards=1), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gpt2.attribute(INPUTS, TARGETS, method="value_zeroing", show_progress=False)
    finally:
        for handle in handles:
            handle.remove()
    clean = len(INPUTS) * len(layers)  # the clean forward runs each layer once on the batch
    rows = sum(seen) - clean
    quadratic = [str(w.message) for w in caught if issubclass(w.category, QuadraticForwardsWarning)]
    assert len(quadratic) == 1
    assert f"value_zeroing will run {rows} layer recomputations" in quadratic[0]
    assert rows == 5 * len(layers) * len(INPUTS)  # 5 keys up to the last attributed position, per layer, per example


def _hand_occlusion(model, ex: ReferenceExample, windows: list[tuple[int, int]], positions: list[int]) -> torch.Tensor:
    """``(len, n_positions)``: each token gets ``|p(x) - p(x with its window set to the baseline)|``, by hand."""
    base = model.baseline_ids(torch.tensor([ex.target_ids]), as_targets=True)[0].tolist()
    out = torch.full((len(ex.target_ids), len(positions)), float("nan"))
    for j, p in enumerate(positions):
        tid = ex.target_ids[p]
        clean = prefix_logits(model, ex, p).softmax(-1)[tid]
        for s, e in windows:
            if e > p:
                continue
            ids = list(ex.target_ids)
            ids[s:e] = base[s:e]
            changed = ReferenceExample(ids, ex.prompt_length, ex.source_ids)
            out[s:e, j] = (clean - prefix_logits(model, changed, p).softmax(-1)[tid]).abs()
    return out


def test_occlusion_spans_occlude_each_span_together(gpt2) -> None:
    prompt, target = "The cat sees the dog", "The cat sees the dog in the house"
    spans = [(0, 2), (3, 5)]
    with memory_budgets(perturbed_rows=10**6):
        out = gpt2.attribute(prompt, target, method="occlusion", spans=spans, show_progress=False)
    seq = out[0]
    ex = encode_example(gpt2, prompt, target)
    positions = list(range(seq.attr_pos_start, seq.attr_pos_end))
    windows = [(0, 2), (2, 3), (3, 5)] + [(t, t + 1) for t in range(5, len(ex.target_ids))]
    expected = _hand_occlusion(gpt2, ex, windows, positions)
    torch.testing.assert_close(seq.target_attributions, expected, atol=1e-5, rtol=0, equal_nan=True)
    # each token of a span has the span's score, and it differs from occluding the tokens one by one
    assert torch.equal(seq.target_attributions[0], seq.target_attributions[1])
    plain = gpt2.attribute(prompt, target, method="occlusion", show_progress=False)[0].target_attributions
    assert not torch.allclose(plain[:2], seq.target_attributions[:2])
    torch.testing.assert_close(plain[2], seq.target_attributions[2])  # outside the spans: as before


def test_occlusion_spans_fewer_forwards(gpt2) -> None:
    with memory_budgets(perturbed_rows=10**6):
        plain, _, _ = _perturbed_rows(gpt2, method="occlusion")
        spanned, _, logs = _perturbed_rows(gpt2, method="occlusion", spans=[(0, 2)])
    assert spanned == plain - len(INPUTS)
    assert f"occlusion: {spanned} forwards of up to 6 tokens" in logs


def test_occlusion_spans_on_the_source_of_an_encoder_decoder(marian) -> None:
    out = marian.attribute("The cat sees", "Il gatto", spans=[(0, 2)], show_progress=False)[0]
    src = out.source_attributions
    assert torch.equal(src[0], src[1])
    plain = marian.attribute("The cat sees", "Il gatto", show_progress=False)[0].source_attributions
    torch.testing.assert_close(plain[2:], src[2:])


@pytest.fixture(scope="module")
def llama_vz(tiny_model_path) -> inseq.AttributionModel:
    return inseq.load_model(str(tiny_model_path("llama")), "value_zeroing")


def _layer0_by_hand(model: inseq.AttributionModel, ids: torch.Tensor, windows, queries: list[int]) -> torch.Tensor:
    """``(queries, keys)`` normalised value zeroing of layer 0, each window's value vectors zeroed together by a
    hook on ``v_proj`` in a plain forward, its ``1 - cos`` at each query given to every token of the window."""
    hf = model.model
    v_proj = hf.model.layers[0].self_attn.v_proj

    def layer0(window) -> torch.Tensor:
        def zero(module, args, output):
            output = output.clone()
            output[:, window[0] : window[1]] = 0
            return output

        handle = v_proj.register_forward_hook(zero) if window else None
        try:
            with torch.no_grad():
                return hf(input_ids=ids, output_hidden_states=True).hidden_states[1][0]
        finally:
            if handle is not None:
                handle.remove()

    clean = layer0(None)
    scores = torch.zeros(len(queries), windows[-1][1])
    for s, e in windows:
        corrupted = layer0((s, e))
        cos = torch.nn.functional.cosine_similarity(clean[queries], corrupted[queries], dim=-1)
        scores[:, s:e] = (1 - cos).unsqueeze(-1)
    scores[scores < 1e-5] = 0
    return scores / scores.sum(-1, keepdim=True)


def test_value_zeroing_spans_zero_each_span_together(llama_vz) -> None:
    prompt, target = "The cat sees the dog", "The cat sees the dog in the house"
    spans = [(1, 3), (3, 5)]
    out = llama_vz.attribute(prompt, target, spans=spans, show_progress=False)[0]
    ids = torch.tensor([[t.id for t in out.target]])
    positions = list(range(out.attr_pos_start, out.attr_pos_end))
    length = positions[-1]
    covered = {t for s, e in spans for t in range(s, e)}
    windows = sorted(spans + [(t, t + 1) for t in range(length) if t not in covered])
    expected = _layer0_by_hand(llama_vz, ids, windows, [p - 1 for p in positions])
    got = out.target_attributions[..., 0]  # (tokens, positions) of layer 0
    for j, p in enumerate(positions):
        torch.testing.assert_close(got[:p, j], expected[j, :p], atol=1e-5, rtol=1e-4)
    assert torch.equal(got[1, 0], got[2, 0]) and torch.equal(got[3, 0], got[4, 0])
    with memory_budgets(quadratic_forwards=1), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        llama_vz.attribute(prompt, target, spans=spans, show_progress=False)
    layers = len(llama_vz.structure().decoder_layers)
    message = next(str(w.message) for w in caught if issubclass(w.category, QuadraticForwardsWarning))
    assert f"value_zeroing will run {len(windows) * layers} layer recomputations" in message


def test_lime_spans_mask_a_span_together(tiny_model_path, monkeypatch) -> None:
    model = inseq.load_model(str(tiny_model_path("gpt2")), "lime")
    prompt, target = "The cat sees the dog", "The cat sees the dog in the house"
    kwargs = {"n_samples": 12, "seed": 3, "show_progress": False}
    plain = model.attribute(prompt, target, **kwargs)[0].target_attributions
    singles = model.attribute(prompt, target, spans=[(0, 1), (2, 3)], **kwargs)[0].target_attributions
    torch.testing.assert_close(singles, plain, equal_nan=True)  # one-token spans: the same draws, the same fit
    spanned = model.attribute(prompt, target, spans=[(0, 3)], **kwargs)[0].target_attributions
    assert spanned.shape == plain.shape
    assert not torch.allclose(spanned[:3].nan_to_num(), plain[:3].nan_to_num())
    # a span masked together: its tokens' masks are equal in every sample, so their coefficients share the fit
    masks = []
    original = lime_module.lime_masks

    def spy(*args, **kw):
        out = original(*args, **kw)
        masks.append(out)
        return out

    monkeypatch.setattr(lime_module, "lime_masks", spy)
    model.attribute(prompt, target, spans=[(0, 3)], **kwargs)
    assert torch.equal(masks[0][..., 0], masks[0][..., 1]) and torch.equal(masks[0][..., 1], masks[0][..., 2])
    assert masks[0][..., 0].any() and not masks[0][..., 0].all()
