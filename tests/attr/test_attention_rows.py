"""The attention method without ``L x L`` maps: weights of the attributed query rows only, under SDPA, checked against
full eager attention weights (the old path is the oracle) on decoder-only and encoder-decoder tiny models."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

import inseq
from inseq.models import attention_rows
from inseq.testing.reference import encode_example

DEC_INPUTS = ["Hello world", "The cat"]
DEC_TARGETS = ["Hello world and this is a", "The cat sees the dog in the"]
ENC_INPUTS = ["Hello world and the cat", "The cat sees"]
ENC_TARGETS = ["Ciao il gatto", "Il gatto"]


@pytest.fixture(scope="module")
def models(tiny_model_path) -> dict[str, inseq.AttributionModel]:
    names = ("gpt2", "llama", "bart", "t5")
    return {name: inseq.load_model(str(tiny_model_path(name)), "attention") for name in names}


def _eager_full(model: inseq.AttributionModel, ex) -> object:
    """Eager attention over the whole (unpadded) example: every ``L x L`` map."""
    cls = AutoModelForSeq2SeqLM if model.is_encoder_decoder else AutoModelForCausalLM
    hf = cls.from_pretrained(model.model.name_or_path, attn_implementation="eager").eval()
    ids = torch.tensor([ex.target_ids])
    with torch.no_grad():
        if ex.source_ids is None:
            return hf(input_ids=ids, output_attentions=True, use_cache=False)
        src = torch.tensor([ex.source_ids])
        return hf(input_ids=src, decoder_input_ids=ids, output_attentions=True, use_cache=False)


def _row(attentions, q: int, n_keys: int) -> torch.Tensor:
    """``layers x (1, heads, q, k)`` -> ``(keys, layers, heads)`` of query ``q``."""
    return torch.stack([a[0, :, q, :n_keys] for a in attentions], dim=-1).permute(1, 2, 0)


class _Spy:
    """Records the query rows the row attention function scored for each call."""

    def __init__(self, monkeypatch) -> None:
        self.calls: list[tuple[int, int]] = []  # (query length, rows scored)
        original = attention_rows._row_weights

        def spy(module, query, key, mask, scaling, is_causal, position_bias, rows):
            weights = original(module, query, key, mask, scaling, is_causal, position_bias, rows)
            self.calls.append((query.shape[2], weights.shape[2]))
            return weights

        monkeypatch.setattr(attention_rows, "_row_weights", spy)


@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_rows_match_full_eager_decoder_only(models, name, monkeypatch) -> None:
    model = models[name]
    spy = _Spy(monkeypatch)
    out = model.attribute(DEC_INPUTS, DEC_TARGETS, show_progress=False)
    assert model.model.config._attn_implementation == "sdpa"  # restored after the call
    n_layers = model.model.config.num_hidden_layers
    assert len(spy.calls) == n_layers  # one forward, the row function ran in every layer
    widest = max(seq.attr_pos_end for seq in out) - min(seq.attr_pos_start for seq in out)
    for q_len, scored in spy.calls:
        assert scored == widest < q_len  # only the attributed rows, never the whole square
    for i, seq in enumerate(out):
        ex = encode_example(model, DEC_INPUTS[i], DEC_TARGETS[i])
        ref = _eager_full(model, ex)
        assert seq.target_attributions.shape[1] == seq.attr_pos_end - seq.attr_pos_start
        for j, p in enumerate(range(seq.attr_pos_start, seq.attr_pos_end)):
            torch.testing.assert_close(
                seq.target_attributions[:p, j], _row(ref.attentions, p - 1, p), atol=1e-6, rtol=0
            )
            assert torch.isnan(seq.target_attributions[p:, j]).all()


@pytest.mark.parametrize(("name", "attribute_target"), [("bart", True), ("bart", False), ("t5", True)])
def test_rows_match_full_eager_encoder_decoder(models, name, attribute_target, monkeypatch) -> None:
    model = models[name]
    spy = _Spy(monkeypatch)
    out = model.attribute(ENC_INPUTS, ENC_TARGETS, show_progress=False, attribute_target=attribute_target)
    assert spy.calls  # the row function ran (encoder, decoder self and cross attention)
    for i, seq in enumerate(out):
        ex = encode_example(model, ENC_INPUTS[i], ENC_TARGETS[i])
        ref = _eager_full(model, ex)
        n_src = len(ex.source_ids)
        for j, p in enumerate(range(seq.attr_pos_start, seq.attr_pos_end)):
            torch.testing.assert_close(
                seq.source_attributions[:, j], _row(ref.cross_attentions, p - 1, n_src), atol=1e-6, rtol=0
            )
            if attribute_target:
                expected = _row(ref.decoder_attentions, p - 1, p)
                torch.testing.assert_close(seq.target_attributions[:p, j], expected, atol=1e-6, rtol=0)
        enc = torch.stack([a[0] for a in ref.encoder_attentions], dim=-1).permute(2, 1, 3, 0)  # key, query, L, H
        torch.testing.assert_close(seq.sequence_scores["encoder_self_attentions"], enc, atol=1e-6, rtol=0)
        if not attribute_target:
            n = seq.attr_pos_end - 1
            dec = torch.stack([a[0, :, :n, :n] for a in ref.decoder_attentions], dim=-1).permute(2, 1, 3, 0)
            torch.testing.assert_close(seq.sequence_scores["decoder_self_attentions"], dec, atol=1e-6, rtol=0)


def test_eager_fallback_gives_the_same_weights(models, monkeypatch) -> None:
    """A model without transformers' attention interface runs eager attention, with the same numbers."""
    model = models["llama"]
    rows_out = model.attribute(DEC_INPUTS, DEC_TARGETS, show_progress=False)
    spy = _Spy(monkeypatch)
    monkeypatch.setattr(attention_rows, "supports_row_attention", lambda m: False)
    eager_out = model.attribute(DEC_INPUTS, DEC_TARGETS, show_progress=False)
    assert spy.calls == []
    for a, b in zip(rows_out, eager_out):
        torch.testing.assert_close(a.target_attributions, b.target_attributions, atol=1e-6, rtol=0, equal_nan=True)


def test_unsupported_attention_keyword_falls_back(monkeypatch) -> None:
    """An attention call with a keyword the row path does not reproduce (softcap) raises for the caller to go eager."""
    q = torch.randn(1, 2, 3, 4)
    with pytest.raises(attention_rows.RowAttentionUnsupported, match="softcap"):
        attention_rows.row_attention_forward(torch.nn.Module(), q, q, q, None, softcap=30.0)


def test_row_weights_gqa_and_position_bias() -> None:
    """GQA keys are repeated per query head and an additive position bias is applied, as eager attention does."""
    torch.manual_seed(0)
    q, k = torch.randn(1, 4, 5, 8), torch.randn(1, 2, 5, 8)
    bias = torch.randn(1, 4, 5, 5)
    module = torch.nn.Module()
    module.is_causal = True
    rows = torch.tensor([1, 4])
    got = attention_rows._row_weights(module, q, k, None, 0.5, None, bias, rows)
    full = q @ k.repeat_interleave(2, dim=1).transpose(-1, -2) * 0.5 + bias
    full = full.masked_fill(torch.ones(5, 5, dtype=torch.bool).triu(1), float("-inf")).softmax(-1)
    torch.testing.assert_close(got, full[:, :, rows])


@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_attention_forward_computes_no_logits_it_does_not_read(models, name) -> None:
    """The attention method's forward keeps the last position's logits only (a long prompt's full logits are
    ``L x vocab`` floats)."""
    model = models[name]
    seen: list[int] = []
    handle = model.model.get_output_embeddings().register_forward_hook(lambda m, a, out: seen.append(out.shape[1]))
    try:
        model.attribute("one two three four five six", "one two three four five six seven", show_progress=False)
    finally:
        handle.remove()
    assert seen and max(seen) == 1, seen
