"""Every built-in step function against a hand computation from the logits of each prefix, plus custom ones."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

import inseq
from inseq.attr.step_functions import StepFunctionArgs
from inseq.testing.reference import encode_example, prefix_logits, reference_attribute

PROMPTS = ["the cat", "a dog runs in"]
TEXTS = ["the cat sat on the mat", "a dog runs in the park"]
# Same token counts as TEXTS (checked below): the contrastive alternatives of the continuations.
CONTRAST = ["the cat ran on a dog", "a dog runs in a cat"]

BUILTINS = (
    "logit",
    "probability",
    "entropy",
    "crossentropy",
    "perplexity",
    "contrast_logits",
    "contrast_prob",
    "contrast_logits_diff",
    "contrast_prob_diff",
    "pcxmi",
    "kl_divergence",
    "in_context_pvi",
    "mc_dropout_prob_avg",
    "top_p_size",
)


@pytest.fixture(scope="module")
def gpt2(tiny_model_path: Callable[[str], Path]) -> Any:
    """The tiny GPT-2, loaded once."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return inseq.load_model(str(tiny_model_path("gpt2")), "saliency")


def hand_scores(model: Any, prompt: str, text: str, contrast: str) -> dict[str, torch.Tensor]:
    """Every deterministic step score of every attributed position, from per-prefix logits."""
    ex = encode_example(model, prompt, text)
    cex = encode_example(model, prompt, contrast) if contrast != text else ex
    assert len(cex.target_ids) == len(ex.target_ids)
    rows: dict[str, list[float]] = {}
    for pos in range(ex.prompt_length, len(ex.target_ids)):
        logits = prefix_logits(model, ex, pos).double()
        c_logits = prefix_logits(model, cex, pos).double()
        tid, cid = ex.target_ids[pos], cex.target_ids[pos]
        logp, c_logp = logits.log_softmax(-1), c_logits.log_softmax(-1)
        p, cp = float(logp[tid].exp()), float(c_logp[cid].exp())
        sorted_p = logp.exp().sort(descending=True).values
        values = {
            "logit": float(logits[tid]),
            "probability": p,
            "entropy": float(-(logp.exp() * logp).sum()),
            "crossentropy": -math.log(p),
            "perplexity": math.exp(-math.log(p)),
            "contrast_logits": float(c_logits[cid]),
            "contrast_prob": cp,
            "contrast_logits_diff": float(logits[tid] - c_logits[cid]),
            "contrast_prob_diff": p - cp,
            "pcxmi": -math.log2(p / cp),
            "kl_divergence": float((logp.exp() * (logp - c_logp)).sum()),
            "in_context_pvi": -math.log(p) + math.log(cp),
            "top_p_size": float(int((sorted_p.cumsum(0) < 0.5).sum()) + 1),
        }
        for name, value in values.items():
            rows.setdefault(name, []).append(value)
    return {name: torch.tensor(v, dtype=torch.float32) for name, v in rows.items()}


def test_fourteen_builtins_are_listed() -> None:
    assert set(BUILTINS) <= set(inseq.list_step_functions())
    assert len(BUILTINS) == 14


@pytest.mark.parametrize("same_contrast", [False, True], ids=["contrast", "contrast-equals-original"])
def test_builtins_match_hand_computation(gpt2: Any, same_contrast: bool) -> None:
    contrast = TEXTS if same_contrast else CONTRAST
    names = [n for n in BUILTINS if n not in ("mc_dropout_prob_avg", "top_p_size")]
    out = gpt2.attribute(
        PROMPTS, TEXTS, method="dummy", step_scores=names, contrast_targets=contrast, show_progress=False
    )
    # top_p is routed by name to every function accepting it (kl_divergence too): a separate call.
    top_p = gpt2.attribute(PROMPTS, TEXTS, method="dummy", step_scores=["top_p_size"], top_p=0.5, show_progress=False)
    for i, seq in enumerate(out):
        expected = hand_scores(gpt2, PROMPTS[i], TEXTS[i], contrast[i])
        torch.testing.assert_close(top_p[i].step_scores["top_p_size"].float(), expected["top_p_size"])
        for name in names:
            torch.testing.assert_close(
                seq.step_scores[name].float(), expected[name], rtol=1e-4, atol=1e-6, msg=lambda m, n=name: f"{n}: {m}"
            )
        if same_contrast:
            torch.testing.assert_close(seq.step_scores["contrast_prob"], seq.step_scores["probability"])
            assert seq.step_scores["kl_divergence"].abs().max() < 1e-6
            assert seq.step_scores["contrast_prob_diff"].abs().max() < 1e-6


def test_perplexity_is_exp_of_crossentropy(gpt2: Any) -> None:
    """Documented fix: exp(CE), not inseq 0.7's 2 ** CE."""
    out = gpt2.attribute(
        PROMPTS, TEXTS, method="dummy", step_scores=["perplexity", "crossentropy"], show_progress=False
    )
    for seq in out:
        torch.testing.assert_close(seq.step_scores["perplexity"], seq.step_scores["crossentropy"].exp())


def test_mc_dropout_prob_avg_keeps_eval_mode(gpt2: Any) -> None:
    """Finite z-scores, the model back in eval mode (inseq 0.7 left it training), and reproducible under a seed."""
    results = []
    for _ in range(2):
        torch.manual_seed(0)
        out = gpt2.attribute(
            PROMPTS, TEXTS, method="dummy", step_scores=["mc_dropout_prob_avg"], n_mcd_steps=3, show_progress=False
        )
        assert not gpt2.model.training
        assert all(not m.training for m in gpt2.model.modules())
        results.append([seq.step_scores["mc_dropout_prob_avg"] for seq in out])
    for a, b in zip(*results):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, b)
    # Dropout is active during the noisy passes: the scores are not all zero.
    assert any(seq.abs().max() > 0 for seq in results[0])


def test_mc_dropout_needs_two_steps(gpt2: Any) -> None:
    with pytest.raises(ValueError, match="n_mcd_steps"):
        gpt2.attribute(
            PROMPTS, TEXTS, method="dummy", step_scores=["mc_dropout_prob_avg"], n_mcd_steps=1, show_progress=False
        )
    assert not gpt2.model.training


def logit_squared(args: StepFunctionArgs, power: int = 2) -> torch.Tensor:
    """A custom step function: the target logit raised to ``power``."""
    return args.logits.gather(-1, args.target_ids.long().view(-1, 1)).squeeze(-1) ** power


def test_custom_step_function_as_score_and_attributed_fn(gpt2: Any) -> None:
    inseq.register_step_function(logit_squared, "logit_squared_test", overwrite=True)
    assert "logit_squared_test" in inseq.list_step_functions()
    out = gpt2.attribute(
        PROMPTS,
        TEXTS,
        method="saliency",
        attributed_fn="logit_squared_test",
        step_scores=["logit_squared_test", "logit"],
        power=3,
        show_progress=False,
    )
    for i, seq in enumerate(out):
        # The keyword argument reaches both the step score and the attributed function.
        torch.testing.assert_close(seq.step_scores["logit_squared_test"], seq.step_scores["logit"] ** 3)
        ex = encode_example(gpt2, PROMPTS[i], TEXTS[i])
        ref = reference_attribute(gpt2, "saliency", ex, score_fn=lambda logits, tid: logits[:, tid] ** 3)
        scale = float(ref.target.nan_to_num().abs().max())
        torch.testing.assert_close(seq.target_attributions, ref.target, rtol=1e-4, atol=1e-5 * scale, equal_nan=True)


def test_unknown_step_function_lists_valid_ids(gpt2: Any) -> None:
    with pytest.raises(ValueError, match="not_a_step_fn") as err:
        gpt2.attribute(PROMPTS, TEXTS, step_scores=["not_a_step_fn"], show_progress=False)
    assert "probability" in str(err.value)
