"""Ground truth: on the toy GPT-2's key-value task, with the pairs as sources, the answer depends on the queried pair
only; leave-one-out must find it in at least 95% of the held-in examples (all 100 of them: the model is tiny)."""

from __future__ import annotations

import pytest

import inseq
from inseq.examples.tasks import eval_set, kv_sources

KV = {"template": "Pairs: {context}. {query}", "chat_template": False}


@pytest.fixture(scope="module")
def toy():
    return inseq.load_model(str(inseq.examples.get_example_model_path("toy-gpt2-ioi")), "saliency")


def _rate(model, method: str, size: int, **options) -> float:
    hits = 0
    for example in eval_set("kv", size):
        sources, query, gold = kv_sources(example)
        out = model.attribute_sources(sources, query, method=method, response=example.target, **KV, **options)
        hits += out.top(1)[0] == gold
    return hits / size


def test_leave_one_out_finds_the_queried_pair(toy):
    assert _rate(toy, "leave_one_out", 100) >= 0.95


@pytest.mark.parametrize(("method", "threshold"), [("ablation", 0.9), ("attnlrp", 0.95), ("attention", 0.9)])
def test_other_methods_on_the_same_task(toy, method, threshold):
    options = {"n_ablations": 32} if method == "ablation" else {}
    assert _rate(toy, method, 40, **options) >= threshold
