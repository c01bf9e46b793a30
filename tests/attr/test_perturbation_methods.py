"""Perturbation methods (``occlusion``) against a step-by-step reference and a toy model with a known answer."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, GPT2LMHeadModel

import inseq
from inseq.testing.reference import ReferenceExample, encode_example, prefix_logits

DEC_INPUTS = ["Hello world", "The cat"]
DEC_TARGETS = ["Hello world, this is", "The cat sees the dog in"]
ENC_INPUTS = ["Hello world", "The cat sees"]
ENC_TARGETS = ["Ciao", "Il gatto"]


@pytest.fixture(scope="module")
def gpt2(tiny_model_path) -> inseq.AttributionModel:
    return inseq.load_model(str(tiny_model_path("gpt2")), "occlusion")


@pytest.fixture(scope="module")
def marian(tiny_model_path) -> inseq.AttributionModel:
    return inseq.load_model(str(tiny_model_path("marian")), "occlusion")


def _baseline(model, ids: list[int], as_targets: bool = False) -> list[int]:
    return model.baseline_ids(torch.tensor([ids]), as_targets=as_targets)[0].tolist()


def _occlusion_reference(
    model, ex: ReferenceExample, positions: list[int]
) -> tuple[torch.Tensor | None, torch.Tensor]:
    """``|p(x) - p(x with token i set to its baseline)|`` from each prefix alone: (src, n_pos), (tgt, n_pos)."""
    tgt_base = _baseline(model, ex.target_ids, as_targets=True)
    src_base = _baseline(model, ex.source_ids) if ex.source_ids is not None else None
    target = torch.full((len(ex.target_ids), len(positions)), float("nan"))
    source = torch.zeros(len(ex.source_ids), len(positions)) if ex.source_ids is not None else None
    for j, p in enumerate(positions):
        tid = ex.target_ids[p]
        clean = prefix_logits(model, ex, p).softmax(-1)[tid]
        for t in range(p):
            ids = list(ex.target_ids)
            ids[t] = tgt_base[t]
            changed = ReferenceExample(ids, ex.prompt_length, ex.source_ids)
            target[t, j] = (clean - prefix_logits(model, changed, p).softmax(-1)[tid]).abs()
        if source is not None:
            for s in range(len(ex.source_ids)):
                src = list(ex.source_ids)
                src[s] = src_base[s]
                changed = ReferenceExample(list(ex.target_ids), ex.prompt_length, src)
                source[s, j] = (clean - prefix_logits(model, changed, p).softmax(-1)[tid]).abs()
    return source, target


def _check_against_reference(model, inputs, targets, attribute_target: bool) -> None:
    out = model.attribute(inputs, targets, show_progress=False, attribute_target=attribute_target)
    for i, seq in enumerate(out.sequence_attributions):
        ex = encode_example(model, inputs[i], targets[i])
        positions = list(range(seq.attr_pos_start, seq.attr_pos_end))
        source, target = _occlusion_reference(model, ex, positions)
        assert seq.target_attributions.shape == target.shape
        torch.testing.assert_close(seq.target_attributions, target, atol=1e-5, rtol=0, equal_nan=True)
        if source is not None:
            torch.testing.assert_close(seq.source_attributions, source, atol=1e-5, rtol=0)


def test_occlusion_decoder_only_matches_reference(gpt2) -> None:
    _check_against_reference(gpt2, DEC_INPUTS, DEC_TARGETS, attribute_target=False)


def test_occlusion_encoder_decoder_matches_reference(marian) -> None:
    _check_against_reference(marian, ENC_INPUTS, ENC_TARGETS, attribute_target=True)


def test_occlusion_source_only_and_batching_options(marian) -> None:
    full = marian.attribute(ENC_INPUTS, ENC_TARGETS, show_progress=False)
    small = marian.attribute(ENC_INPUTS, ENC_TARGETS, show_progress=False, perturbations_per_eval=1)
    assert full[0].target_attributions is None
    for a, b in zip(full, small):
        torch.testing.assert_close(a.source_attributions, b.source_attributions, atol=1e-6, rtol=0)


def test_occlusion_wider_window_averages_covering_windows(gpt2) -> None:
    hidden = gpt2.model.config.n_embd
    out = gpt2.attribute(DEC_INPUTS[:1], DEC_TARGETS[:1], show_progress=False, sliding_window_shapes=(2, hidden))
    seq = out[0]
    ex = encode_example(gpt2, DEC_INPUTS[0], DEC_TARGETS[0])
    p = seq.attr_pos_start
    base = _baseline(gpt2, ex.target_ids)
    tid = ex.target_ids[p]
    clean = prefix_logits(gpt2, ex, p).softmax(-1)[tid]
    diffs = []
    for s in range(p - 1):
        ids = list(ex.target_ids)
        ids[s : s + 2] = base[s : s + 2]
        diffs.append((clean - prefix_logits(gpt2, ReferenceExample(ids, p), p).softmax(-1)[tid]).abs())
    expected = torch.zeros(p)
    counts = torch.zeros(p)
    for s, d in enumerate(diffs):
        expected[s : s + 2] += d
        counts[s : s + 2] += 1
    torch.testing.assert_close(seq.target_attributions[:p, 0], expected / counts, atol=1e-5, rtol=0)


def test_occlusion_rejects_bad_window(gpt2) -> None:
    with pytest.raises(ValueError, match="sliding_window_shapes"):
        gpt2.attribute(DEC_INPUTS[:1], DEC_TARGETS[:1], show_progress=False, sliding_window_shapes=(1, 3))


@pytest.fixture(scope="module")
def last_token_only_gpt2(tiny_model_path, tmp_path_factory) -> inseq.AttributionModel:
    """Tiny GPT-2 whose attention blocks output zero: each prediction depends on the current token only."""
    path = tiny_model_path("gpt2")
    model = GPT2LMHeadModel.from_pretrained(path)
    with torch.no_grad():
        for block in model.transformer.h:
            block.attn.c_proj.weight.zero_()
            block.attn.c_proj.bias.zero_()
    folder = Path(tmp_path_factory.mktemp("toy-gpt2"))
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(path).save_pretrained(folder)
    return inseq.load_model(str(folder), "occlusion")


def test_occlusion_toy_only_last_token_matters(last_token_only_gpt2) -> None:
    out = last_token_only_gpt2.attribute(DEC_INPUTS, DEC_TARGETS, show_progress=False)
    for seq in out:
        scores = seq.target_attributions
        for j, p in enumerate(range(seq.attr_pos_start, seq.attr_pos_end)):
            assert scores[p - 1, j] > 0
            assert torch.all(scores[: p - 1, j] == 0)


def test_lime_reproducible_with_seed(gpt2) -> None:
    kwargs = {"method": "lime", "show_progress": False, "n_samples": 20}
    first = gpt2.attribute(DEC_INPUTS, DEC_TARGETS, seed=7, **kwargs)
    again = gpt2.attribute(DEC_INPUTS, DEC_TARGETS, seed=7, **kwargs)
    other = gpt2.attribute(DEC_INPUTS, DEC_TARGETS, seed=8, **kwargs)
    for a, b, c in zip(first, again, other):
        assert a.source_attributions is None
        torch.testing.assert_close(a.target_attributions, b.target_attributions, equal_nan=True, atol=0, rtol=0)
        assert not torch.equal(a.target_attributions.nan_to_num(), c.target_attributions.nan_to_num())


def test_lime_encoder_decoder_source_only(marian) -> None:
    out = marian.attribute(ENC_INPUTS, ENC_TARGETS, method="lime", show_progress=False, n_samples=10, seed=1)
    for i, seq in enumerate(out):
        ex = encode_example(marian, ENC_INPUTS[i], ENC_TARGETS[i])
        assert seq.target_attributions is None
        assert seq.source_attributions.shape[:2] == (len(ex.source_ids), seq.attr_pos_end - seq.attr_pos_start)
        assert torch.isfinite(seq.source_attributions).all()
    with pytest.raises(ValueError, match="mask_token"):
        marian.attribute(ENC_INPUTS, ENC_TARGETS, method="lime", show_progress=False, mask_token="mask")


def test_lime_toy_only_last_token_matters(last_token_only_gpt2) -> None:
    out = last_token_only_gpt2.attribute(DEC_INPUTS, DEC_TARGETS, method="lime", show_progress=False, n_samples=60)
    for seq in out:
        scores = seq.target_attributions[..., 0].abs()
        for j, p in enumerate(range(seq.attr_pos_start, seq.attr_pos_end)):
            assert int(scores[:p, j].argmax()) == p - 1
