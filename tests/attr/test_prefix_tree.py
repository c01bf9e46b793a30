"""The plan of shared prefixes (``inseq.attr.prefix_tree``) and the scorer running it: the same values as rows run
one by one with no cache, on decoder-only models with absolute and rotary positions."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest
import torch

import inseq
from inseq.attr.prefix_tree import chunk_rows, plan_prefixes
from inseq.attr.scorer import RowBudget, Scorer, ScoreRow, forward_overhead
from inseq.attr.step_functions import probability_fn


def _ablated_rows(n_rows: int, n_parts: int, seed: int, vocab: int = 90) -> list[ScoreRow]:
    """Rows like ablated contexts: a header, random parts kept (each 2-5 tokens), a query, a read response."""
    rng = random.Random(seed)
    header, query, response = [3, 4, 5], [6, 7], [8, 9, 10, 11]
    parts = [[rng.randrange(12, vocab) for _ in range(rng.randrange(2, 6))] for _ in range(n_parts)]
    rows = []
    for _ in range(n_rows):
        ids = header + [t for p in parts if rng.random() < 0.5 for t in p] + query
        reads = [(len(ids) - 1 + k, t) for k, t in enumerate(response)]
        rows.append(ScoreRow(ids + response, reads))
    return rows


@pytest.mark.parametrize("max_cached", [10_000, 40, 1])
def test_plan_caches_prefixes_each_row_has_within_the_budget(max_cached):
    rows = _ablated_rows(40, 8, seed=1)
    seqs, limits = [r.target_ids for r in rows], [min(c for c, _ in r.reads) for r in rows]
    plan = plan_prefixes(seqs, limits, max_cached)
    assert sum(p.depth for p in plan.prefixes) <= max_cached
    for i, prefix in enumerate(plan.prefixes):
        if prefix.parent >= 0:  # a path runs after a prefix of an earlier wave, of the same row
            above = plan.prefixes[prefix.parent]
            assert above.wave == prefix.wave - 1 and above.depth < prefix.depth
            assert seqs[prefix.key][: above.depth] == seqs[above.key][: above.depth]
        else:
            assert prefix.wave == 0
        holders = [j for j, h in enumerate(plan.hosts) if h == i]
        for j in holders:  # every row hosted by a prefix has it, and reads after it
            assert seqs[j][: prefix.depth] == seqs[prefix.key][: prefix.depth] and prefix.depth <= limits[j]
    for j, host in enumerate(plan.hosts):  # the deepest cached prefix each row has
        deeper = [p for p in plan.prefixes if p.depth > plan.depth_of(host) and p.depth <= limits[j]]
        assert all(seqs[j][: p.depth] != seqs[p.key][: p.depth] for p in deeper)
    if max_cached == 10_000:
        assert len(plan.prefixes) >= 10 and max(p.wave for p in plan.prefixes) <= 6
    if max_cached == 1:
        assert plan.prefixes == [] and plan.hosts == [-1] * len(rows)


def test_a_chain_of_prefixes_is_one_path():
    """Leave-one-out rows: each prefix of the whole context is cached, all cut from one row (one wave)."""
    parts = [[10 + 3 * i, 11 + 3 * i, 12 + 3 * i] for i in range(6)]
    full = [t for p in parts for t in p]
    seqs = [[1, *full, 2, 3]] + [[1, *[t for k, p in enumerate(parts) if k != i for t in p], 2, 3] for i in range(6)]
    plan = plan_prefixes(seqs, [len(s) - 2 for s in seqs], 10_000)
    assert {p.wave for p in plan.prefixes} == {0} and len({p.key for p in plan.prefixes}) == 1
    assert [p.depth for p in plan.prefixes] == [1, 4, 7, 10, 13, 16]  # the header and its first k parts, k < 6


def test_chunk_rows_prices_padding_against_a_forward():
    widths = [10, 11, 12, 30]
    assert chunk_rows([3, 0, 2, 1], widths, [1, 1, 1, 1], 5.0, 1000, 1000) == [[0, 1, 2], [3]]
    assert chunk_rows([0, 1, 2], widths, [1, 1, 1], 5.0, 24, 1000) == [[0, 1], [2]]  # 2 rows x 12 tokens at most
    assert chunk_rows([0, 1, 2], widths, [2, 2, 2], 5.0, 1000, 4) == [[0, 1], [2]]  # 4 logits at most


@pytest.mark.parametrize("arch", ["gpt2", "llama", "qwen2", "gpt_neox"])
def test_shared_prefixes_give_the_values_of_plain_forwards(tiny_model_path, arch):
    model = inseq.load_model(str(tiny_model_path(arch)), "saliency")
    rows = _ablated_rows(24, 7, seed=2)
    budget = RowBudget(4096, 1024)
    plain = Scorer(model).score_rows(rows, probability_fn, {"logprob": True}, budget)
    scorer = Scorer(model, overhead_tokens=3.0)
    shared = scorer.score_rows(rows, probability_fn, {"logprob": True}, budget, share_prefixes=True)
    for a, b in zip(plain, shared):
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)
    one_by_one = [Scorer(model).score_rows([r], probability_fn, {"logprob": True}, budget)[0] for r in rows[:5]]
    for a, b in zip(one_by_one, shared):
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)
    plan = plan_prefixes([r.target_ids for r in rows], [min(c for c, _ in r.reads) for r in rows], budget.tokens)
    assert max(p.wave for p in plan.prefixes) >= 1  # the test runs paths after other paths
    computed = []
    original = Scorer.forward

    def counting(self, **kwargs):
        computed.append(kwargs["target_ids"].numel())
        return original(self, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Scorer, "forward", counting)
        Scorer(model, overhead_tokens=3.0).score_rows(rows, probability_fn, {}, budget, share_prefixes=True)
    assert sum(computed) < 0.8 * sum(len(r.target_ids) for r in rows)


@pytest.mark.parametrize(
    ("arch", "unable"),
    [
        ("gpt2", "takes_position_ids"),  # a model whose forward takes no position_ids
        ("llama", "_keeps_every_token"),  # a cache dropping tokens (sliding windows), found after the first wave
    ],
)
def test_models_that_cannot_share_prefixes_run_the_rows_as_they_are(tiny_model_path, monkeypatch, arch, unable):
    model = inseq.load_model(str(tiny_model_path(arch)), "saliency")
    rows = _ablated_rows(8, 5, seed=3)
    budget = RowBudget(4096, 1024)
    plain = Scorer(model).score_rows(rows, probability_fn, {}, budget)
    monkeypatch.setattr(f"inseq.attr.shared_prefixes.{unable}", lambda anything: False)
    shared = Scorer(model, overhead_tokens=3.0).score_rows(rows, probability_fn, {}, budget, share_prefixes=True)
    for a, b in zip(plain, shared):
        torch.testing.assert_close(b, a)


def test_forward_overhead_weighs_reading_the_weights_against_computing_a_token():
    net = torch.nn.Sequential(torch.nn.Embedding(100, 768), torch.nn.Linear(768, 3072), torch.nn.Linear(3072, 768))
    params = 2 * 768 * 3072 + 3072 + 768  # the embedding is not read whole by a forward
    cpu = (4 * params / 1e10 + 4 * 1e-5) / (2 * params / 1e11)  # 4 modules (the container too)
    assert forward_overhead(SimpleNamespace(torch_module=net, device="cpu")) == pytest.approx(cpu)
    assert cpu == pytest.approx(20.4, abs=0.1)  # as measured on GPT-2 small: 40 ms + 2 ms a token
    gpu = forward_overhead(SimpleNamespace(torch_module=net, device="cuda:0"))
    assert gpu == pytest.approx((4 * params / 2e12 + 4 * 1e-5) / (2 * params / 1e14))
    tiny = forward_overhead(SimpleNamespace(torch_module=torch.nn.Linear(2, 2), device="cpu"))
    assert tiny == 4096.0  # launches dominate: capped


def test_position_ids_are_refused_by_encoder_decoder_models(tiny_model_path):
    model = inseq.load_model(str(tiny_model_path("bart")), "saliency")
    ids = torch.tensor([[2, 5, 6]])
    with pytest.raises(ValueError, match="decoder-only"):
        model.forward_logits(None, ids, torch.ones_like(ids), position_ids=torch.arange(3)[None])
