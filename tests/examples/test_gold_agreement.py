"""Agreement of attribution methods with the known gold tokens of the toy models, measured with the inseq engine.

* Translation (issue #7): every target word of the toy Vesk -> Tolu task translates exactly one known source word.
  The alignment error (1 - top-1 agreement, :func:`inseq.evaluate.agreement.translation_agreement` on 50 held-in
  sentences) must stay at most 0.2 for the gradient methods.
* Key-value retrieval (issue #14): in ``"Pairs: Mary cup John hat Tom key. John"`` -> ``" hat."`` the answer is
  determined by one earlier token, the stored value. The best gradient method must find it in at least 95% of the
  examples (:func:`inseq.evaluate.agreement.causal_agreement`; the full table is in ``docs/faithfulness.md``).
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

import inseq
from inseq.evaluate.agreement import causal_agreement, translation_agreement
from inseq.examples import get_example_model_path

MAX_ALIGNMENT_ERROR = 0.2
SIZE = 50
KV_SIZE = 40


def _one_thread_model(name: str):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield inseq.load_model(str(get_example_model_path(name)), "saliency")
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def marian():
    yield from _one_thread_model("toy-marian-translation")


@pytest.fixture(scope="module")
def gpt2():
    yield from _one_thread_model("toy-gpt2-ioi")


@pytest.mark.parametrize("method", ["saliency", "input_x_gradient", "integrated_gradients"])
def test_translation_alignment_error(marian, method):
    result = translation_agreement(method, size=SIZE, model=marian)
    assert result.n >= 6 * SIZE  # every target word of every sentence was scored
    alignment_error = 1 - result.top1
    assert alignment_error <= MAX_ALIGNMENT_ERROR, f"{method}: alignment error {alignment_error:.2f}"


def test_the_best_gradient_method_finds_the_stored_value(gpt2):
    methods = ("attnlrp", "cp_lrp")
    results = {method: causal_agreement(method, size=KV_SIZE, task="kv", model=gpt2) for method in methods}
    best = max(results.values(), key=lambda r: r.top1)
    assert best.n == KV_SIZE and best.top1 >= 0.95, {m: r.top1 for m, r in results.items()}


def test_saliency_finds_the_stored_value_in_most_examples(gpt2):
    result = causal_agreement("saliency", size=KV_SIZE, task="kv", model=gpt2)
    assert result.top1 >= 0.65 and result.mean_rank <= 1.6  # 0.79 and 1.37 on 100 examples
