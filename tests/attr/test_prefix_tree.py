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


def _walk(plan):
    todo = [plan]
    while todo:
        node = todo.pop()
        yield node
        todo.extend(node.children)


@pytest.mark.parametrize("overhead", [0.0, 4.0, 1e9])
def test_plan_runs_every_row_once_from_a_prefix_it_has(overhead):
    rows = _ablated_rows(40, 8, seed=1)
    seqs, limits = [r.target_ids for r in rows], [min(c for c, _ in r.reads) for r in rows]
    plan = plan_prefixes(seqs, limits, [len(r.reads) for r in rows], overhead, 10_000, 10_000)
    seen, segments = [], 0
    for node in _walk(plan):
        prefix = seqs[node.key][: node.depth]
        for child in node.children:
            assert child.segment in node.rows and plan.lengths[child.segment] == child.depth > node.depth
            assert plan.reads[child.segment] == 0
            segments += 1
        for i in node.rows:
            if i < len(rows):
                seen.append(i)
                assert seqs[i][: node.depth] == prefix and node.depth <= limits[i]
    assert sorted(seen) == list(range(len(rows)))
    assert len(plan.lengths) == len(rows) + segments
    if overhead == 0.0:
        assert segments >= 10  # free forwards: every branch worth sharing is shared
    if overhead == 1e9:  # a forward costs more than any sharing saves: one group, no cache
        assert segments == 0 and sorted(plan.rows) == list(range(len(rows)))


def test_chunk_rows_prices_padding_against_a_forward():
    lengths = [10, 11, 12, 30]
    chunks, cost = chunk_rows([3, 0, 2, 1], lengths, 0, [1, 1, 1, 1], 5.0, 1000, 1000)
    assert chunks == [[0, 1, 2], [3]]
    assert cost == (5 + 3 * 12) + (5 + 30)
    chunks, _ = chunk_rows([0, 1, 2], lengths, 0, [1, 1, 1], 5.0, 24, 1000)  # 2 rows x 12 tokens at most
    assert chunks == [[0, 1], [2]]
    chunks, _ = chunk_rows([0, 1, 2], lengths, 0, [2, 2, 2], 5.0, 1000, 4)  # 4 logits at most
    assert chunks == [[0, 1], [2]]


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
@pytest.mark.parametrize("overhead", [0.0, 3.0])
def test_shared_prefixes_give_the_values_of_plain_forwards(tiny_model_path, arch, overhead):
    model = inseq.load_model(str(tiny_model_path(arch)), "saliency")
    rows = _ablated_rows(24, 7, seed=2)
    budget = RowBudget(4096, 1024)
    plain = Scorer(model).score_rows(rows, probability_fn, {"logprob": True}, budget)
    shared_scorer = Scorer(model, overhead_tokens=overhead)
    shared = shared_scorer.score_rows(rows, probability_fn, {"logprob": True}, budget, share_prefixes=True)
    for a, b in zip(plain, shared):
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)
    one_by_one = [Scorer(model).score_rows([r], probability_fn, {"logprob": True}, budget)[0] for r in rows[:5]]
    for a, b in zip(one_by_one, shared):
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)
    seqs, limits = [r.target_ids for r in rows], [min(c for c, _ in r.reads) for r in rows]
    plan = plan_prefixes(seqs, limits, [len(r.reads) for r in rows], overhead, budget.tokens, budget.logits)
    assert any(node.children for node in _walk(plan))  # the test does share prefixes


def test_a_cache_that_cannot_be_cut_is_run_again(tiny_model_path):
    model = inseq.load_model(str(tiny_model_path("gpt2")), "saliency")
    scorer = Scorer(model)
    ids = [3, 4, 5, 6, 7, 8]
    with torch.no_grad():  # as score_rows runs it
        whole = scorer._row_cache(None, 0, ids, 0, None)  # no chunk cache to cut: one forward of its own
        above = scorer._row_cache(None, 0, ids[:3], 0, None)
        extended = scorer._row_cache(None, 0, ids, 3, above)
    assert scorer.n_forwards == 3
    for a, b in zip(whole.layers, extended.layers):
        torch.testing.assert_close(b.keys, a.keys, atol=1e-5, rtol=1e-5)
    assert above.get_seq_length() == 3  # the cache it extended is left as it was


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
