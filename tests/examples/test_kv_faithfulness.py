"""Faithfulness on the toy GPT-2's key-value task (issue #14): the answer is determined by one earlier token.

The gold token of ``"Pairs: Mary cup John hat Tom key. John"`` -> ``" hat."`` is the stored value `` hat``. The
target: the best gradient method finds it in at least 95% of the examples, measured with the inseq engine by
:func:`inseq.evaluate.agreement.causal_agreement` on held-in examples (the full table: ``docs/faithfulness.md``).
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

import inseq
from inseq.evaluate.agreement import causal_agreement
from inseq.examples import get_example_model_path

SIZE = 40


@pytest.fixture(scope="module")
def gpt2():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield inseq.load_model(str(get_example_model_path("toy-gpt2-ioi")), "saliency")
    torch.set_num_threads(threads)


def test_the_best_gradient_method_finds_the_stored_value(gpt2):
    results = {method: causal_agreement(method, size=SIZE, task="kv", model=gpt2) for method in ("attnlrp", "cp_lrp")}
    best = max(results.values(), key=lambda r: r.top1)
    assert best.n == SIZE and best.top1 >= 0.95, {m: r.top1 for m, r in results.items()}


def test_saliency_finds_the_stored_value_in_most_examples(gpt2):
    result = causal_agreement("saliency", size=SIZE, task="kv", model=gpt2)
    assert result.top1 >= 0.65 and result.mean_rank <= 1.6  # 0.79 and 1.37 on 100 examples
