"""Agreement of attribution methods with the known gold tokens of the toy models, measured with the inseq engine.

* Translation (issue #7): every target word of the toy Vesk -> Tolu task translates exactly one known source word.
  The alignment error (1 - top-1 agreement, :func:`inseq.evaluate.agreement.translation_agreement` on 50 held-in
  sentences) must stay at most 0.2 for the gradient methods.
* Key-value retrieval (issue #14): in ``"Pairs: Mary cup John hat Tom key. John"`` -> ``" hat."`` the answer is
  determined by one earlier token, the stored value (:func:`inseq.evaluate.agreement.causal_agreement`; the full
  table is in ``docs/faithfulness.md``).
* LRP (issue 23, item 9): ``attnlrp`` and ``cp_lrp`` each have their own gold-rate thresholds (:data:`LRP_GATES`, set
  from the rates measured on these examples with a margin), and breaking any one of their rules (uniform, identity,
  norm: replaced by the plain gradient) makes one of these rates fall below its threshold.
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


#: (method, task) -> minimum top-1 gold rate: the rate measured on these examples (in the comment) minus a margin.
LRP_GATES: dict[tuple[str, str], float] = {
    ("attnlrp", "kv"): 0.65,  # measured 0.725 (29 of 40)
    ("cp_lrp", "kv"): 0.95,  # measured 1.000
    ("attnlrp", "copy"): 0.35,  # measured 0.425 (17 of 40)
    ("cp_lrp", "ioi"): 0.90,  # measured 1.000
    ("attnlrp", "translation"): 0.92,  # measured 0.929 (328 of 353 words)
}


def _gold_rate(method: str, task: str, gpt2, marian):
    if task == "translation":
        return translation_agreement(method, size=SIZE, model=marian)
    return causal_agreement(method, size=KV_SIZE, task=task, model=gpt2)


def test_attnlrp_finds_the_stored_value(gpt2):
    result = causal_agreement("attnlrp", size=KV_SIZE, task="kv", model=gpt2)
    assert result.n == KV_SIZE and result.top1 >= LRP_GATES["attnlrp", "kv"], result


def test_cp_lrp_finds_the_stored_value(gpt2):
    result = causal_agreement("cp_lrp", size=KV_SIZE, task="kv", model=gpt2)
    assert result.n == KV_SIZE and result.top1 >= LRP_GATES["cp_lrp", "kv"], result


@pytest.mark.parametrize("gate", [g for g in LRP_GATES if g[1] != "kv"], ids="-".join)
def test_lrp_gold_rates_hold(gpt2, marian, gate):
    result = _gold_rate(*gate, gpt2, marian)
    assert result.top1 >= LRP_GATES[gate], result


def _plain_identity(x: torch.Tensor, y: torch.Tensor, eps: float = 0.0) -> torch.Tensor:
    """The identity rule broken: ``y`` with its own (plain) gradient."""
    assert y.requires_grad, "the broken rule must keep the plain gradient, not cut it"
    return y


def _plain_norm(x: torch.Tensor, centered: bool, eps: float, dims: tuple[int, ...]) -> torch.Tensor:
    """The norm rule broken: the normalising factor is differentiated too (the plain gradient)."""
    z = x.float()
    if centered:
        z = z - z.mean(dims, keepdim=True)
    return z * torch.rsqrt(z.pow(2).mean(dims, keepdim=True) + eps)


#: Each rule, replaced by the plain gradient, and the gold rates that then fall below their threshold. Breaking the
#: uniform rule *raises* attnlrp's rates on the toy GPT-2 (kv 0.725 -> 0.95) and changes nothing under cp_lrp on
#: either toy model (no product of two activations is left once the attention weights are constants), so only the
#: translation rate sees it (0.929 -> 0.912).
BROKEN_RULES = {
    "uniform": ("half_gradient", lambda x: x, [("attnlrp", "translation")]),
    "identity": ("identity_rule", _plain_identity, [("cp_lrp", "ioi"), ("attnlrp", "copy")]),
    "norm": ("_frozen_norm", _plain_norm, [("attnlrp", "kv"), ("cp_lrp", "kv")]),
}


@pytest.mark.parametrize("rule", list(BROKEN_RULES))
def test_breaking_a_rule_lowers_a_gold_rate(gpt2, marian, monkeypatch, rule):
    from inseq.attr.feat.lrp import rules

    name, broken, gates = BROKEN_RULES[rule]
    assert callable(getattr(rules, name))
    monkeypatch.setattr(rules, name, broken)
    for gate in gates:
        result = _gold_rate(*gate, gpt2, marian)
        assert result.top1 < LRP_GATES[gate], f"{rule} rule broken, {gate}: {result}"


def test_saliency_finds_the_stored_value_in_most_examples(gpt2):
    result = causal_agreement("saliency", size=KV_SIZE, task="kv", model=gpt2)
    assert result.top1 >= 0.65 and result.mean_rank <= 1.6  # 0.79 and 1.37 on 100 examples
