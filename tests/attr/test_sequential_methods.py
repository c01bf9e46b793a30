"""Sequential IG, discretized IG and ReAGent: step-by-step references, path properties, caching and toy models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients
from transformers import AutoTokenizer, GPT2LMHeadModel

import inseq
from inseq.attr.feat.path.monotonic_path import KnnGraph, build_monotonic_path, path_weights
from inseq.testing.reference import ReferenceExample, encode_example

DEC_INPUTS = ["Hello world", "The cat"]
DEC_TARGETS = ["Hello world, this is", "The cat sees the dog"]
ENC_INPUTS = ["Hello world", "The cat sees"]
ENC_TARGETS = ["Ciao", "Il gatto"]
SIG_STEPS = 6


@pytest.fixture(scope="module")
def gpt2(tiny_model_path) -> inseq.AttributionModel:
    return inseq.load_model(str(tiny_model_path("gpt2")), "sequential_integrated_gradients")


@pytest.fixture(scope="module")
def marian(tiny_model_path) -> inseq.AttributionModel:
    return inseq.load_model(str(tiny_model_path("marian")), "sequential_integrated_gradients")


def _embeds(model, ids: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    t = torch.tensor([ids])
    with torch.no_grad():
        return model.embed_ids(t)[0], model.embed_ids(model.baseline_ids(t))[0]


def _prob(model, ex: ReferenceExample, p: int, tgt: torch.Tensor, src: torch.Tensor | None) -> torch.Tensor:
    """Probability of target ``p`` from ``(rows, p, h)`` target-prefix and ``(rows, s, h)`` source embeddings."""
    rows = tgt.shape[0]
    ones = torch.ones(rows, tgt.shape[1], dtype=torch.long)
    if src is None:
        out = model.model(inputs_embeds=tgt, attention_mask=ones, use_cache=False)
    else:
        src_mask = torch.ones(rows, src.shape[1], dtype=torch.long)
        out = model.model(
            inputs_embeds=src,
            attention_mask=src_mask,
            decoder_inputs_embeds=tgt,
            decoder_attention_mask=ones,
            use_cache=False,
        )
    return out.logits[:, -1].softmax(-1)[:, ex.target_ids[p]]


def _sig_reference(model, ex: ReferenceExample, positions: list[int], with_target: bool):
    """Captum IG on one token at a time, per position: ``(src_len, n_pos)`` and ``(tgt_len, n_pos)`` sums,
    plus the per-token occlusion differences ``f(x) - f(x with token i at its baseline)`` (completeness)."""
    tgt, tgt_b = _embeds(model, ex.target_ids)
    src, src_b = _embeds(model, ex.source_ids) if ex.source_ids is not None else (None, None)
    shapes = {"src": len(ex.source_ids or []), "tgt": len(ex.target_ids)}
    attrs = {k: torch.full((n, len(positions), tgt.shape[-1]), float("nan")) for k, n in shapes.items()}
    gaps = {k: torch.full((n, len(positions)), float("nan")) for k, n in shapes.items()}
    for col, p in enumerate(positions):
        jobs = [("src", i) for i in range(shapes["src"])] + ([("tgt", i) for i in range(p)] if with_target else [])
        for side, i in jobs:
            full, base = (src, src_b) if side == "src" else (tgt[:p], tgt_b[:p])

            def forward(token: torch.Tensor, side=side, i=i, full=full, p=p) -> torch.Tensor:
                rows = token.shape[0]
                moved = torch.cat([full[:i].expand(rows, -1, -1), token, full[i + 1 :].expand(rows, -1, -1)], 1)
                if side == "src":
                    return _prob(model, ex, p, tgt[:p].expand(rows, -1, -1), moved)
                return _prob(model, ex, p, moved, None if src is None else src.expand(rows, -1, -1))

            ig = IntegratedGradients(forward, multiply_by_inputs=True)
            x, b = full[i].view(1, 1, -1), base[i].view(1, 1, -1)
            attrs[side][i, col] = ig.attribute(x, baselines=b, n_steps=SIG_STEPS, method="gausslegendre")[0, 0]
            with torch.no_grad():
                gaps[side][i, col] = forward(x) - forward(b)
    return attrs, gaps


@pytest.mark.parametrize("name", ["gpt2", "marian"])
def test_sig_matches_per_token_captum_reference(request, name) -> None:
    model = request.getfixturevalue(name)
    inputs, targets = (DEC_INPUTS, DEC_TARGETS) if name == "gpt2" else (ENC_INPUTS, ENC_TARGETS)
    with_target = True  # marian: source and target prefix; gpt2: always the prefix
    kwargs = {"attribute_target": True} if name == "marian" else {}
    out = model.attribute(inputs, targets, show_progress=False, n_steps=SIG_STEPS, internal_batch_size=4, **kwargs)
    for i, seq in enumerate(out):
        ex = encode_example(model, inputs[i], targets[i])
        positions = list(range(seq.attr_pos_start, seq.attr_pos_end))
        attrs, gaps = _sig_reference(model, ex, positions, with_target)
        torch.testing.assert_close(seq.target_attributions, attrs["tgt"], atol=1e-5, rtol=0, equal_nan=True)
        # completeness per token: the IG of token i sums to f(x) - f(x with token i at its baseline)
        torch.testing.assert_close(attrs["tgt"].sum(-1), gaps["tgt"], atol=1e-4, rtol=0, equal_nan=True)
        if ex.source_ids is not None:
            torch.testing.assert_close(seq.source_attributions, attrs["src"], atol=1e-5, rtol=0)
            torch.testing.assert_close(attrs["src"].sum(-1), gaps["src"], atol=1e-4, rtol=0)


def test_sig_convergence_deltas_small(gpt2) -> None:
    out = gpt2.attribute(DEC_INPUTS, DEC_TARGETS, show_progress=False, n_steps=20, return_convergence_delta=True)
    for seq in out:
        assert seq.step_scores["deltas"].abs().max() < 1e-4


# ---------------------------------------------------------------------------------------------------- DIG


@pytest.mark.parametrize("strategy", ["greedy", "maxcount"])
def test_dig_paths_are_monotonic(strategy) -> None:
    emb = np.random.default_rng(3).normal(size=(40, 6)).astype(np.float32)
    graph = KnnGraph.build(emb, n_neighbors=8)
    assert graph.indices.shape == (40, 8)
    assert not (graph.indices == np.arange(40)[:, None]).any()  # no self loops
    assert np.all(np.diff(graph.weights, axis=1) >= 0)  # nearest first
    for word in (5, 17, 33):
        path = build_monotonic_path(word, emb, emb[0], graph, n_points=10, strategy=strategy)
        assert path.shape == (10, 6)
        np.testing.assert_allclose(path[0], emb[0])
        np.testing.assert_allclose(path[-1], emb[word])
        steps = np.diff(path, axis=0) * np.sign(emb[word] - emb[0])
        assert np.all(steps >= -1e-9)  # every dimension moves monotonically from the baseline to the word
        np.testing.assert_allclose(path_weights(path).sum(0), emb[word] - emb[0], atol=1e-9)
    with pytest.raises(ValueError, match="maxcount"):
        build_monotonic_path(5, emb, emb[0], graph, n_points=10, strategy="bogus")


def test_dig_runs_and_caches_without_pickle(tiny_model_path, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("INSEQ_ARTIFACTS_CACHE", str(tmp_path))
    cache = tmp_path / "dig_knn"
    for name, inputs, targets in (("gpt2", DEC_INPUTS, DEC_TARGETS), ("marian", ENC_INPUTS, ENC_TARGETS)):
        model = inseq.load_model(str(tiny_model_path(name)), "discretized_integrated_gradients", n_neighbors=10)
        kwargs = {"show_progress": False, "n_steps": 12, "return_convergence_delta": True}
        out = model.attribute(inputs, targets, attribution_args={"method": "maxcount"}, **kwargs)
        files = sorted(cache.iterdir())
        built = {f: f.stat().st_mtime_ns for f in files}
        # a fresh instance reuses the cached graph (file untouched), with the greedy strategy this time
        again = inseq.load_model(str(tiny_model_path(name)), "discretized_integrated_gradients", n_neighbors=10)
        out2 = again.attribute(inputs, targets, **kwargs)
        assert {f: f.stat().st_mtime_ns for f in sorted(cache.iterdir())} == built
        for seq in list(out) + list(out2):
            attrs = seq.source_attributions if name == "marian" else seq.target_attributions
            assert torch.isfinite(attrs.nan_to_num()).all() and attrs.nan_to_num().abs().sum() > 0
            assert torch.isfinite(seq.step_scores["deltas"]).all()
    assert len(list(cache.glob("*.npz"))) == 2
    assert not list(tmp_path.rglob("*.pkl")) and not list(tmp_path.rglob("*.pickle"))
    with pytest.raises(ValueError, match="greedy"):
        model.attribute(ENC_INPUTS, ENC_TARGETS, show_progress=False, attribution_args={"method": "x"})


# ---------------------------------------------------------------------------------------------------- ReAGent


@pytest.fixture(scope="module")
def last_token_only_gpt2(tiny_model_path, tmp_path_factory) -> str:
    """Tiny GPT-2 whose attention blocks output zero: each prediction depends on the current token only."""
    path = tiny_model_path("gpt2")
    model = GPT2LMHeadModel.from_pretrained(path)
    with torch.no_grad():
        for block in model.transformer.h:
            block.attn.c_proj.weight.zero_()
            block.attn.c_proj.bias.zero_()
    folder = Path(tmp_path_factory.mktemp("toy-gpt2-reagent"))
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(path).save_pretrained(folder)
    return str(folder)


def test_reagent_seeded(gpt2) -> None:
    kwargs = {"method": "reagent", "show_progress": False}
    model = inseq.load_model(gpt2.model_name, "reagent", max_probe_steps=4, num_probes=4)
    first = model.attribute(DEC_INPUTS, DEC_TARGETS, seed=3, **kwargs)
    again = model.attribute(DEC_INPUTS, DEC_TARGETS, seed=3, **kwargs)
    other = model.attribute(DEC_INPUTS, DEC_TARGETS, seed=4, **kwargs)
    for a, b, c in zip(first, again, other):
        torch.testing.assert_close(a.target_attributions, b.target_attributions, equal_nan=True, atol=0, rtol=0)
        assert not torch.equal(a.target_attributions.nan_to_num(), c.target_attributions.nan_to_num())
    with pytest.raises(ValueError, match="uniform"):
        inseq.load_model(gpt2.model_name, "reagent", token_sampler="bogus")


def test_reagent_toy_finds_the_only_relevant_token(last_token_only_gpt2) -> None:
    model = inseq.load_model(last_token_only_gpt2, "reagent", keep_top_n=1, max_probe_steps=30, num_probes=8)
    occl = inseq.load_model(last_token_only_gpt2, "occlusion")
    # targets are the model's own greedy continuations: the clean prediction is top-1 at every position
    generated = model.attribute(DEC_INPUTS, show_progress=False, generation_args={"max_new_tokens": 4}, seed=0)
    full = generated.info["generated_texts"]
    runs = [model.attribute(DEC_INPUTS, full, show_progress=False, seed=s) for s in range(3)]
    reference = occl.attribute(DEC_INPUTS, full, show_progress=False)
    mean_scores, occl_scores = [], []
    for b, seq in enumerate(runs[0]):
        for j, p in enumerate(range(seq.attr_pos_start, seq.attr_pos_end)):
            assert int(seq.target_attributions[:p, j, 0].argmax()) == p - 1
        mean = torch.stack([run[b].target_attributions[..., 0] for run in runs]).mean(0)
        mask = ~torch.isnan(mean)
        mean_scores.append(mean[mask])
        occl_scores.append(reference[b].target_attributions[mask])
    x, y = torch.cat(mean_scores), torch.cat(occl_scores)
    pearson = torch.corrcoef(torch.stack([x, y]))[0, 1]
    assert pearson > 0.5
