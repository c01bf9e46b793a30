"""Internals methods (``attention``, ``value_zeroing``) against step-by-step references and a hand-set toy model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer, GPT2LMHeadModel

import inseq
from inseq.models.model_config import MODEL_CONFIGS
from inseq.testing.reference import ReferenceExample, encode_example, prefix_logits

DEC_INPUTS = ["Hello world", "The cat"]
DEC_TARGETS = ["Hello world, this is", "The cat sees the dog in"]
LLAMA_TARGETS = ["Hello world and this", "The cat sees the dog in"]
ENC_INPUTS = ["Hello world", "The cat sees"]
ENC_TARGETS = ["Ciao", "Il gatto"]


@pytest.fixture(scope="module")
def models(tiny_model_path) -> dict[str, inseq.AttributionModel]:
    return {name: inseq.load_model(str(tiny_model_path(name)), "attention") for name in ("gpt2", "llama", "marian")}


def _eager(model: inseq.AttributionModel) -> torch.nn.Module:
    """A separate copy of the HF model loaded with eager attention."""
    cls = AutoModelForSeq2SeqLM if model.is_encoder_decoder else AutoModelForCausalLM
    return cls.from_pretrained(model.model.name_or_path, attn_implementation="eager").eval()


def _prefix_forward(hf: torch.nn.Module, ex: ReferenceExample, p: int, **kwargs):
    ids = torch.tensor([ex.target_ids[:p]])
    with torch.no_grad():
        if ex.source_ids is None:
            return hf(input_ids=ids, use_cache=False, **kwargs)
        src = torch.tensor([ex.source_ids])
        return hf(input_ids=src, decoder_input_ids=ids, use_cache=False, **kwargs)


def _last_rows(attentions) -> torch.Tensor:
    """``layers x (1, heads, q, k)`` -> ``(k, layers, heads)`` of the last query."""
    return torch.stack([a[0, :, -1, :] for a in attentions], dim=-1).permute(1, 2, 0)


@pytest.mark.parametrize(("name", "targets"), [("gpt2", DEC_TARGETS), ("llama", LLAMA_TARGETS)])
def test_attention_decoder_only_matches_reference(models, name, targets) -> None:
    model = models[name]
    out = model.attribute(DEC_INPUTS, targets, show_progress=False, step_scores=["probability"])
    hf = _eager(model)
    assert model.model.config._attn_implementation == "sdpa"  # restored after the call
    for i, seq in enumerate(out):
        ex = encode_example(model, DEC_INPUTS[i], targets[i])
        n_layers, n_heads = hf.config.num_hidden_layers, hf.config.num_attention_heads
        assert seq.target_attributions.shape == (
            len(ex.target_ids),
            seq.attr_pos_end - seq.attr_pos_start,
            n_layers,
            n_heads,
        )
        for j, p in enumerate(range(seq.attr_pos_start, seq.attr_pos_end)):
            expected = _last_rows(_prefix_forward(hf, ex, p, output_attentions=True).attentions)
            torch.testing.assert_close(seq.target_attributions[:p, j], expected, atol=1e-5, rtol=0)
            assert torch.isnan(seq.target_attributions[p:, j]).all()
            prob = prefix_logits(model, ex, p).softmax(-1)[ex.target_ids[p]]
            torch.testing.assert_close(seq.step_scores["probability"][j], prob, atol=1e-5, rtol=0)


@pytest.mark.parametrize("attribute_target", [True, False])
def test_attention_encoder_decoder_matches_reference(models, attribute_target) -> None:
    model = models["marian"]
    out = model.attribute(ENC_INPUTS, ENC_TARGETS, show_progress=False, attribute_target=attribute_target)
    hf = _eager(model)
    for i, seq in enumerate(out):
        ex = encode_example(model, ENC_INPUTS[i], ENC_TARGETS[i])
        for j, p in enumerate(range(seq.attr_pos_start, seq.attr_pos_end)):
            ref = _prefix_forward(hf, ex, p, output_attentions=True)
            torch.testing.assert_close(
                seq.source_attributions[:, j], _last_rows(ref.cross_attentions), atol=1e-5, rtol=0
            )
            if attribute_target:
                expected = _last_rows(ref.decoder_attentions)
                torch.testing.assert_close(seq.target_attributions[:p, j], expected, atol=1e-5, rtol=0)
        enc = torch.stack([a[0] for a in ref.encoder_attentions], dim=-1).permute(2, 1, 3, 0)  # key, query, L, H
        torch.testing.assert_close(seq.sequence_scores["encoder_self_attentions"], enc, atol=1e-5, rtol=0)
        if attribute_target:
            assert "decoder_self_attentions" not in seq.sequence_scores
        else:
            assert seq.target_attributions is None
            n = seq.attr_pos_end - 1
            assert seq.sequence_scores["decoder_self_attentions"].shape[:2] == (n, n)


@pytest.fixture(scope="module")
def uniform_gpt2(tiny_model_path, tmp_path_factory) -> inseq.AttributionModel:
    """Tiny GPT-2 with zero queries and keys: every query attends uniformly to its prefix."""
    path = tiny_model_path("gpt2")
    model = GPT2LMHeadModel.from_pretrained(path)
    hidden = model.config.n_embd
    with torch.no_grad():
        for block in model.transformer.h:
            block.attn.c_attn.weight[:, : 2 * hidden] = 0
            block.attn.c_attn.bias[: 2 * hidden] = 0
    folder = Path(tmp_path_factory.mktemp("uniform-gpt2"))
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(path).save_pretrained(folder)
    return inseq.load_model(str(folder), "attention")


def test_attention_toy_uniform(uniform_gpt2) -> None:
    out = uniform_gpt2.attribute(DEC_INPUTS, DEC_TARGETS, show_progress=False)
    for seq in out:
        for j, p in enumerate(range(seq.attr_pos_start, seq.attr_pos_end)):
            expected = torch.full_like(seq.target_attributions[:p, j], 1.0 / p)
            torch.testing.assert_close(seq.target_attributions[:p, j], expected, atol=1e-6, rtol=0)


# ---------------------------------------------------------------------------------------------------------------
# value zeroing
# ---------------------------------------------------------------------------------------------------------------


def _value_hook(kind: str, token: int, heads: list[int] | None, head_dim: int):
    """Forward hook zeroing ``token``'s values (``kind``: ``"split"`` for a plain projection, ``"gpt2"`` for c_attn)."""

    def hook(module, args, output):
        out = output.clone()
        width = out.shape[-1] // 3 if kind == "gpt2" else out.shape[-1]
        offset = 2 * width if kind == "gpt2" else 0
        units = range(width // head_dim) if heads is None else heads
        for h in units:
            out[:, token, offset + h * head_dim : offset + (h + 1) * head_dim] = 0
        return out

    return hook


def _block_out_at_last(hf, block, value_module, hook, ex, p) -> torch.Tensor:
    """Output of ``block`` at the last prefix query, with ``hook`` on ``value_module`` (or clean if None)."""
    captured = {}
    h1 = block.register_forward_hook(lambda m, a, o: captured.setdefault("out", o[0] if isinstance(o, tuple) else o))
    h2 = value_module.register_forward_hook(hook) if hook is not None else None
    try:
        _prefix_forward(hf, ex, p)
    finally:
        h1.remove()
        if h2 is not None:
            h2.remove()
    return captured["out"][0, -1]


def _vz_reference(hf, sites, ex, p, n_keys, metric, heads=None) -> torch.Tensor:
    """``(n_keys, layers)`` normalised value-zeroing scores of the last query of the prefix ``< p``."""
    cols = []
    for block, value_module, kind, head_dim in sites:
        clean = _block_out_at_last(hf, block, value_module, None, ex, p)
        scores = []
        for t in range(n_keys):
            hook = _value_hook(kind, t, heads, head_dim)
            corrupted = _block_out_at_last(hf, block, value_module, hook, ex, p)
            if metric == "cosine":
                scores.append(1 - torch.nn.functional.cosine_similarity(clean, corrupted, dim=0))
            else:
                scores.append((clean - corrupted).norm())
        s = torch.stack(scores)
        s[s < 1e-5] = 0
        cols.append(s / s.sum() if s.sum() > 0 else s)
    return torch.stack(cols, dim=-1)


def test_value_zeroing_gpt2_matches_reference(models) -> None:
    model = models["gpt2"]
    out = model.attribute(
        DEC_INPUTS, DEC_TARGETS, method="value_zeroing", show_progress=False, step_scores=["probability"]
    )
    hf = model.model
    head_dim = hf.config.n_embd // hf.config.n_head
    sites = [(b, b.attn.c_attn, "gpt2", head_dim) for b in hf.transformer.h]
    for i, seq in enumerate(out):
        ex = encode_example(model, DEC_INPUTS[i], DEC_TARGETS[i])
        assert seq.target_attributions.shape[-1] == len(sites)
        for j, p in enumerate(range(seq.attr_pos_start, seq.attr_pos_end)):
            expected = _vz_reference(hf, sites, ex, p, p, "cosine")
            # 1 - cos of nearly equal float32 vectors carries ~1e-7 noise; normalising small scores magnifies it
            torch.testing.assert_close(seq.target_attributions[:p, j], expected, atol=1e-5, rtol=2e-3)
            prob = prefix_logits(model, ex, p).softmax(-1)[ex.target_ids[p]]
            torch.testing.assert_close(seq.step_scores["probability"][j], prob, atol=1e-5, rtol=0)


def test_value_zeroing_llama_heads_euclidean(models) -> None:
    model = models["llama"]
    heads = [0, 1]
    out = model.attribute(
        DEC_INPUTS[:1],
        LLAMA_TARGETS[:1],
        method="value_zeroing",
        show_progress=False,
        similarity_metric="euclidean",
        decoder_zeroed_units_indices=(0, 2),
    )
    hf = model.model
    head_dim = hf.config.hidden_size // hf.config.num_attention_heads
    sites = [(b, b.self_attn.v_proj, "split", head_dim) for b in hf.model.layers]
    seq, ex = out[0], encode_example(model, DEC_INPUTS[0], LLAMA_TARGETS[0])
    for j, p in enumerate(range(seq.attr_pos_start, seq.attr_pos_end)):
        expected = _vz_reference(hf, sites, ex, p, p, "euclidean", heads)
        torch.testing.assert_close(seq.target_attributions[:p, j], expected, atol=1e-5, rtol=0)


def test_value_zeroing_encoder_decoder_matches_reference(models) -> None:
    model = models["marian"]
    out = model.attribute(
        ENC_INPUTS,
        ENC_TARGETS,
        method="value_zeroing",
        show_progress=False,
        attribute_target=True,
        similarity_metric="euclidean",
    )
    hf = model.model
    head_dim = hf.config.d_model // hf.config.decoder_attention_heads
    layers = hf.model.decoder.layers
    cross = [(b, b.encoder_attn.v_proj, "split", head_dim) for b in layers]
    self_sites = [(b, b.self_attn.v_proj, "split", head_dim) for b in layers]
    for i, seq in enumerate(out):
        ex = encode_example(model, ENC_INPUTS[i], ENC_TARGETS[i])
        for j, p in enumerate(range(seq.attr_pos_start, seq.attr_pos_end)):
            src = _vz_reference(hf, cross, ex, p, len(ex.source_ids), "euclidean")
            torch.testing.assert_close(seq.source_attributions[:, j], src, atol=1e-5, rtol=0)
            tgt = _vz_reference(hf, self_sites, ex, p, p, "euclidean")
            torch.testing.assert_close(seq.target_attributions[:p, j], tgt, atol=1e-5, rtol=0)
        enc = seq.sequence_scores["encoder_self_scores"]
        n = len(ex.source_ids)
        assert enc.shape == (n, n, len(hf.model.encoder.layers))
        torch.testing.assert_close(enc.sum(0), torch.ones(n, enc.shape[-1]), atol=1e-5, rtol=0)


def test_value_zeroing_errors(models) -> None:
    model = models["gpt2"]
    with pytest.raises(ValueError, match="similarity_metric"):
        model.attribute(DEC_INPUTS[:1], DEC_TARGETS[:1], method="value_zeroing", similarity_metric="dot")
    with pytest.raises(ValueError, match="out of range"):
        model.attribute(DEC_INPUTS[:1], DEC_TARGETS[:1], method="value_zeroing", decoder_zeroed_units_indices=99)
    builtin = MODEL_CONFIGS["GPT2LMHeadModel"]
    with pytest.warns(UserWarning, match="Overwriting the model configuration of 'GPT2LMHeadModel'"):
        inseq.register_model_config(
            "GPT2LMHeadModel",
            {"self_attention_module": "attn", "value_vector": "missing_proj"},
            allow_partial=True,
            overwrite=True,
        )
    try:
        with pytest.raises(RuntimeError, match="GPT2LMHeadModel"):
            model.attribute(DEC_INPUTS[:1], DEC_TARGETS[:1], method="value_zeroing", show_progress=False)
    finally:
        MODEL_CONFIGS["GPT2LMHeadModel"] = builtin
