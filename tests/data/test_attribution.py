import copy
from unittest.mock import MagicMock

import pytest
import torch
from conftest import NAN, make_decoder_only, make_encdec, toks

from inseq.data import (
    CoarseFeatureAttributionSequenceOutput,
    FeatureAttributionOutput,
    GranularFeatureAttributionSequenceOutput,
    merge_attributions,
)
from inseq.data import aggregation_functions as agg_fns
from inseq.utils.errors import LengthMismatchError


def test_container_dunders(output):
    assert len(output) == 2 and list(output) == output.sequence_attributions
    assert output[1] is output.sequence_attributions[1]
    assert output == copy.deepcopy(output)
    other = copy.deepcopy(output)
    other[0].source_attributions[0, 0, 0] += 1e-6  # within atol
    assert other == output
    other[0].source_attributions[0, 0, 0] += 1.0
    assert other != output


def test_merge_and_add(output):
    merged = output + output
    assert len(merged) == 4 and merged.info["input_texts"] == ["a", "b", "a", "b"]
    assert sum([output, output]) == merged
    mismatch = copy.deepcopy(output)
    mismatch.info["model_name"] = "other"
    with pytest.raises(ValueError, match="'model_name' differs"):
        merge_attributions([output, mismatch])
    with pytest.raises(TypeError) as err:
        merge_attributions([output, "x"])
    assert "attributions[1] must be a FeatureAttributionOutput, got 'x' (str)." in str(err.value)
    with pytest.raises(ValueError, match="empty"):
        merge_attributions([])


def test_merge_keeps_max_attr_pos_end(output):
    later = copy.deepcopy(output)
    later.info["attr_pos_end"] = 9
    assert merge_attributions([output, later]).info["attr_pos_end"] == 9


def test_minimum_maximum():
    seq = make_decoder_only()
    assert seq.maximum == pytest.approx(1.5) and seq.minimum == 0.0
    seq.target_attributions = -seq.target_attributions
    assert seq.minimum == pytest.approx(-1.5) and seq.maximum == 0.0


def test_weight_attributions(output):
    seq = output[0]
    aggregated = seq.aggregate()
    output.weight_attributions("probability")
    assert torch.allclose(seq.source_attributions, aggregated.source_attributions * torch.tensor([0.5, 0.4, 0.9]))
    assert seq._aggregator == [] and seq.aggregate() == seq
    with pytest.raises(KeyError, match="nope"):
        seq.weight_attributions("nope")


def test_get_scores_dicts():
    seq = make_decoder_only()
    scores = seq.get_scores_dicts()
    assert list(scores["target_attributions"]) == [(3, "Ġis"), (4, "Ġni"), (5, "ce")]
    assert scores["target_attributions"][(3, "Ġis")] == {
        (0, "Hel"): pytest.approx(0.1),
        (1, "lo"): pytest.approx(0.4),
        (2, "Ġworld"): pytest.approx(0.7),
    }
    assert scores["step_scores"][(5, "ce")] == {"probability": pytest.approx(0.8)}
    assert scores["source_attributions"] == {}


def test_decode_tokens():
    tokenizer = MagicMock()
    tokenizer.decode.side_effect = lambda ids: f"<{ids[0]}>"
    seq = make_decoder_only().aggregate("subwords")
    seq.decode_tokens(tokenizer)
    assert [t.token for t in seq.target] == ["Hello", "<2>", "<3>", "Ġnice"]


def test_shape_validation_names_the_problem():
    with pytest.raises(LengthMismatchError, match="source_attributions has 3 rows but there are 2 source tokens"):
        GranularFeatureAttributionSequenceOutput(toks("a", "b"), toks("c"), torch.zeros(3, 1, 2), attr_pos_end=1)
    with pytest.raises(LengthMismatchError, match="Step score 'p'"):
        CoarseFeatureAttributionSequenceOutput(
            toks("a"), toks("a", "b"), None, torch.zeros(2, 1), {"p": torch.ones(2)}, attr_pos_start=1
        )


def test_defaults_and_no_global_mutation():
    before = agg_fns.default_aggregate_map()
    granular = make_encdec()
    assert granular._dict_aggregate_fn["step_scores"]["spans"]["deltas"] == "absmax"
    granular._dict_aggregate_fn["step_scores"]["spans"]["probability"] = "sum"
    assert agg_fns.default_aggregate_map() == before
    assert make_encdec()._dict_aggregate_fn["step_scores"]["spans"]["probability"] == "prod"
    assert granular.attr_pos_end == 4 and granular.config["aggregator"] == "vnorm"
    assert make_decoder_only().config["aggregator"] == []
    assert make_decoder_only().target_attributions.dtype == torch.float32


def test_to_dataframe(decoder_only):
    output = FeatureAttributionOutput([decoder_only, decoder_only])
    df = output.to_dataframe()
    assert list(df.columns) == [
        "sequence_idx",
        "generated_idx",
        "generated_token",
        "attributed_idx",
        "attributed_token",
        "side",
        "score",
        "probability",
    ]
    assert len(df) == 2 * (3 + 4 + 5)  # NaN cells dropped
    first = df.iloc[0].to_dict()
    assert first["generated_token"] == "Ġis" and first["attributed_token"] == "Hel" and first["side"] == "target"
    assert first["score"] == pytest.approx(0.1) and first["probability"] == pytest.approx(0.5)
    assert len(decoder_only.to_dataframe(dropna=False)) == 18
    enc = make_encdec().to_dataframe()
    assert (
        set(enc["side"]) == {"source", "target"} and enc.groupby("generated_idx")["score"].sum().round(5).eq(1).all()
    )


def test_to_dataframe_without_pandas(monkeypatch, decoder_only):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "pandas":
            raise ImportError("no pandas")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match="pip install pandas"):
        decoder_only.to_dataframe()


def test_nan_conventions_equal(decoder_only):
    other = make_decoder_only()
    assert decoder_only == other and decoder_only.target_attributions[5, 2].isnan()
    assert NAN != NAN
