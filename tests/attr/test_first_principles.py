"""First-principles checks of the gradient methods: IG completeness and saliency against finite differences."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

import inseq
from inseq.testing.reference import encode_example

PROMPTS = ["the cat", "a dog runs in"]
TEXTS = ["the cat sat on the mat", "a dog runs in the park"]


def _load(path: Path) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return inseq.load_model(str(path), "integrated_gradients")


@pytest.fixture(scope="module")
def gpt2(tiny_model_path: Callable[[str], Path]) -> Any:
    """The tiny GPT-2, loaded once."""
    return _load(tiny_model_path("gpt2"))


@pytest.fixture(scope="module")
def t5(tiny_model_path: Callable[[str], Path]) -> Any:
    """The tiny T5, loaded once."""
    return _load(tiny_model_path("t5"))


def _probability(model: Any, target_embeds: torch.Tensor, source_embeds: torch.Tensor | None, target_id: int) -> float:
    """Probability of ``target_id`` after the prefix ``target_embeds`` (unbatched, no padding)."""
    with torch.no_grad():
        if source_embeds is None:
            logits = model.model(inputs_embeds=target_embeds, use_cache=False).logits
        else:
            logits = model.model(
                inputs_embeds=source_embeds, decoder_inputs_embeds=target_embeds, use_cache=False
            ).logits
    return float(logits[0, -1].softmax(-1)[target_id])


def _check_completeness(model: Any, inputs: list[str], texts: list[str], attribute_target: bool) -> None:
    """sum(attributions) = f(x) - f(baseline) - delta; |delta| small with 64 steps."""
    out = model.attribute(
        inputs,
        texts,
        n_steps=64,
        return_convergence_delta=True,
        attribute_target=attribute_target,
        step_scores=["probability"],
        show_progress=False,
    )
    for i, seq in enumerate(out):
        ex = encode_example(model, inputs[i], texts[i])
        tgt_ids = torch.tensor([ex.target_ids])
        tgt_base = model.embed_ids(model.baseline_ids(tgt_ids, as_targets=True))
        src_base = None
        if ex.source_ids is not None:
            src_ids = torch.tensor([ex.source_ids])
            src_base = model.embed_ids(model.baseline_ids(src_ids))
            tgt_emb = model.embed_ids(tgt_ids)
        total = torch.zeros(seq.attr_pos_end - seq.attr_pos_start)
        if seq.source_attributions is not None:
            total += seq.source_attributions.sum((0, 2))
        if seq.target_attributions is not None:
            total += seq.target_attributions.nan_to_num().sum((0, 2))
        for col, pos in enumerate(range(seq.attr_pos_start, seq.attr_pos_end)):
            f_x = float(seq.step_scores["probability"][col])
            base_prefix = tgt_base[:, :pos] if (attribute_target or src_base is None) else tgt_emb[:, :pos]
            f_base = _probability(model, base_prefix, src_base, ex.target_ids[pos])
            gap = f_x - f_base
            delta = float(seq.step_scores["deltas"][col])
            # The delta returned is exactly the completeness gap of the returned attributions...
            assert float(total[col]) - gap == pytest.approx(delta, abs=1e-5 * abs(gap) + 1e-9)
            # ...and with 64 Gauss-Legendre steps it is small: a few percent of the function's value (on the random
            # tiny models f(x) and f(baseline) are close, so the gap alone is a poor scale).
            assert abs(delta) <= 2.5e-2 * max(abs(gap), f_x), (i, pos, delta, gap)


def test_ig_completeness_decoder_only(gpt2: Any) -> None:
    _check_completeness(gpt2, PROMPTS, TEXTS, attribute_target=False)


@pytest.mark.parametrize("attribute_target", [True, False], ids=["with-target", "source-only"])
def test_ig_completeness_encoder_decoder(t5: Any, attribute_target: bool) -> None:
    _check_completeness(t5, ["the cat sat", "a dog"], ["le chat", "un chien court"], attribute_target)


def test_ig_delta_shrinks_with_steps(gpt2: Any) -> None:
    """More integration steps do not make the completeness gap larger (on average)."""
    deltas = []
    for n_steps in (2, 64):
        out = gpt2.attribute(
            PROMPTS[:1], TEXTS[:1], n_steps=n_steps, return_convergence_delta=True, show_progress=False
        )
        deltas.append(float(out[0].step_scores["deltas"].abs().mean()))
    assert deltas[1] <= deltas[0]


def test_saliency_matches_central_finite_differences(gpt2: Any) -> None:
    """Saliency = |df/de| for a few embedding coordinates, against float64 central differences."""
    prompt, text = PROMPTS[1], TEXTS[1]
    out = gpt2.attribute([prompt], [text], method="saliency", show_progress=False)
    seq = out[0]
    ex = encode_example(gpt2, prompt, text)
    double = copy.deepcopy(gpt2.model).double().eval()
    ids = torch.tensor([ex.target_ids])
    embeds = double.get_input_embeddings()(ids) * gpt2.embed_scale
    h = 1e-4
    checked = 0
    for col, pos in enumerate(range(seq.attr_pos_start, seq.attr_pos_end)):
        sal = seq.target_attributions[:pos, col]
        # The two largest coordinates (well above float32 noise) and one arbitrary coordinate of token 0.
        flat = sal.flatten().topk(2).indices.tolist() + [3]
        for index in flat:
            row, dim = divmod(index, sal.shape[1])
            plus, minus = embeds[:, :pos].clone(), embeds[:, :pos].clone()
            plus[0, row, dim] += h
            minus[0, row, dim] -= h
            with torch.no_grad():
                f_plus = double(inputs_embeds=plus).logits[0, -1].softmax(-1)[ex.target_ids[pos]]
                f_minus = double(inputs_embeds=minus).logits[0, -1].softmax(-1)[ex.target_ids[pos]]
            fd = abs(float(f_plus - f_minus) / (2 * h))
            scale = float(sal.abs().max())
            assert float(sal[row, dim]) == pytest.approx(fd, rel=1e-3, abs=1e-4 * scale), (pos, row, dim)
            checked += 1
    assert checked >= 6


def test_input_x_gradient_is_saliency_times_input_up_to_sign(gpt2: Any) -> None:
    """|input x gradient| = saliency * |embedding| elementwise."""
    sal = gpt2.attribute(PROMPTS, TEXTS, method="saliency", show_progress=False)
    ixg = gpt2.attribute(PROMPTS, TEXTS, method="input_x_gradient", show_progress=False)
    for i, (a, b) in enumerate(zip(sal, ixg)):
        ids = torch.tensor([encode_example(gpt2, PROMPTS[i], TEXTS[i]).target_ids])
        emb = gpt2.embed_ids(ids)[0].detach().unsqueeze(1)
        torch.testing.assert_close(b.target_attributions.abs(), a.target_attributions * emb.abs(), equal_nan=True)
