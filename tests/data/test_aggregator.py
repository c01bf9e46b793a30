import pytest
import torch
from conftest import NAN, make_decoder_only, make_encdec, toks

from inseq.data import (
    AggregatorPipeline,
    CoarseFeatureAttributionSequenceOutput,
    FeatureAttributionSequenceOutput,
    GranularFeatureAttributionSequenceOutput,
    MultiDimensionalFeatureAttributionSequenceOutput,
    SubwordAggregator,
)
from inseq.data.word_spans import get_split_spans, get_word_spans


def allclose(a, b):
    return torch.allclose(a, torch.as_tensor(b, dtype=torch.float32), atol=1e-5, equal_nan=True)


def small(cls=FeatureAttributionSequenceOutput):
    return cls(
        source=toks("a", "b"),
        target=toks("x", "y"),
        source_attributions=torch.tensor([[[1.0, 3.0]], [[2.0, 2.0]]]),
        target_attributions=torch.tensor([[[4.0, 0.0]], [[NAN, NAN]]]),
        attr_pos_start=1,
        attr_pos_end=2,
    )


# ---- scores --------------------------------------------------------------------------------------------------------


def test_scores_mean_normalises_over_source_and_target():
    out = small().aggregate()
    assert allclose(out.source_attributions, [[1 / 3], [1 / 3]])
    assert allclose(out.target_attributions, [[1 / 3], [NAN]])


def test_scores_options():
    assert allclose(small().aggregate("sum", normalize=False).source_attributions, [[4.0], [4.0]])
    out = small().aggregate("scores", select_idx=0, normalize=False)
    assert allclose(out.source_attributions, [[1.0], [2.0]]) and allclose(out.target_attributions, [[4.0], [NAN]])
    assert allclose(small().aggregate("mean", rescale=True).source_attributions, [[1.0], [1.0]])
    assert allclose(small().aggregate("scores", select_idx=(0, 2), normalize=False).source_attributions, [[2], [2]])
    with pytest.raises(ValueError, match="mutually exclusive"):
        small().aggregate("mean", normalize=True, rescale=True)
    with pytest.raises(IndexError, match="select_idx 5"):
        small().aggregate("scores", select_idx=5)


def test_granular_default_is_vnorm():
    out = small(GranularFeatureAttributionSequenceOutput).aggregate(normalize=False)
    assert allclose(out.source_attributions, [[10**0.5], [8**0.5]])
    assert allclose(out.target_attributions, [[4.0], [NAN]])
    assert out._aggregator == [] and out.aggregate() == out  # nothing left to aggregate


def test_two_dimensional_scores_are_not_reduced_again():
    out = small().aggregate(normalize=False)
    assert out.aggregate("max", normalize=False) == out


def test_coarse_default_does_nothing(decoder_only):
    assert decoder_only.aggregate() == decoder_only


def test_multidimensional_default_pipeline_and_equivalent_forms():
    seq = make_encdec(MultiDimensionalFeatureAttributionSequenceOutput, extra=(2, 3))
    assert seq.default_aggregator == ["mean", "mean"]
    src, tgt = seq.source_attributions, seq.target_attributions
    for _ in range(2):  # every scores step reduces the last dim then L1-normalises columns over source + target
        src, tgt = src.mean(-1), tgt.mean(-1)
        total = torch.cat([src, tgt]).nan_to_num().abs().sum(0)
        src, tgt = src / total, tgt / total
    expected = src
    default = seq.aggregate()
    assert allclose(default.source_attributions, expected)
    assert seq.aggregate(["mean", "mean"]) == default
    assert seq.aggregate([("scores", "mean"), ("scores", "mean")]) == default
    assert seq.aggregate(AggregatorPipeline(["scores", "scores"], ["mean", "mean"])) == default
    assert seq.aggregate(["scores", "scores"], aggregate_fn=["mean", "mean"]) == default
    with pytest.raises(RuntimeError, match="still 3-D"):
        seq.aggregate("mean")
    assert seq.aggregate("mean", do_post_aggregation_checks=False).source_attributions.ndim == 3


def test_bad_aggregator_arguments():
    with pytest.raises(ValueError, match="cannot be given too"):
        small().aggregate("mean", aggregate_fn="sum")
    with pytest.raises(ValueError, match="Unknown aggregator 'nope'.*subwords.*vnorm"):
        small().aggregate("nope")


# ---- spans ---------------------------------------------------------------------------------------------------------


def test_source_spans_at_edges(encdec):
    out = encdec.aggregate("spans", source_spans=[(0, 2), (2, 4)])
    assert [t.token for t in out.source] == ["▁Hello", "▁world</s>"] and all(t.id == -1 for t in out.source)
    sa = encdec.source_attributions
    assert allclose(out.source_attributions[0], torch.maximum(sa[0], sa[1]))
    assert allclose(out.source_attributions[1], torch.maximum(sa[2], sa[3]))
    assert out.target == encdec.target and out.step_scores == encdec.step_scores


def test_target_spans_merge_generated_axis_and_step_scores(encdec):
    out = encdec.aggregate("spans", target_spans=(1, 3))
    assert [t.token for t in out.target] == ["<pad>", "▁Ciao", "▁mondo"]
    assert (out.attr_pos_start, out.attr_pos_end) == (1, 3)
    assert allclose(out.step_scores["probability"], [0.2, 0.9])  # prod
    assert allclose(out.step_scores["entropy"], [3.0, 3.0])  # sum
    ta = encdec.target_attributions
    assert out.target_attributions.shape == (3, 2, 2)
    assert allclose(out.target_attributions[0, 0], torch.maximum(ta[0, 0], ta[0, 1]))
    assert allclose(out.target_attributions[1, 0], ta[1, 1])  # NaN cells ignored by absmax
    assert out.target_attributions[2, 1].isnan().all()
    assert out.source_attributions.shape == (4, 2, 2)


def test_span_aggregate_fn_override(encdec):
    out = encdec.aggregate("spans", aggregate_fn="mean", source_spans=(0, 2))
    assert allclose(out.source_attributions[0], encdec.source_attributions[:2].mean(0))


@pytest.mark.parametrize(
    ("spans", "message"),
    [
        ((3, 9), r"source span \(3, 9\).*<= 4"),
        ((2, 2), r"source span \(2, 2\)"),
        ((-1, 2), r"source span \(-1, 2\)"),
        ([(0, 2), (1, 3)], "non-overlapping"),
        ([(2, 3), (0, 1)], "ascending"),
        ("ab", "expected a \\(start, end\\)"),
    ],
)
def test_bad_spans(encdec, spans, message):
    with pytest.raises(ValueError, match=message):
        encdec.aggregate("spans", source_spans=spans)


# ---- subwords / split ------------------------------------------------------------------------------------------------


def test_subwords_gpt2_decoder_only_without_special_chars(decoder_only):
    out = decoder_only.aggregate("subwords")
    assert [t.token for t in out.target] == ["Hello", "Ġworld", "Ġis", "Ġnice"]
    assert [t.token for t in out.source] == ["Hello", "Ġworld"]
    assert (out.attr_pos_start, out.attr_pos_end) == (2, 4)
    assert allclose(out.step_scores["probability"], [0.5, 0.4])
    assert allclose(out.target_attributions, [[0.4, 0.6], [0.7, 0.9], [NAN, 1.2], [NAN, 1.5]])


def test_subwords_sentencepiece_without_special_chars(encdec):
    out = encdec.aggregate(SubwordAggregator)
    assert [t.token for t in out.source] == ["▁Hello", "▁world", "</s>"]
    assert [t.token for t in out.target] == ["<pad>", "▁Ciao", "▁mondo"]
    chained = encdec.aggregate("subwords").aggregate()
    assert chained.source_attributions.shape == (3, 2) and chained._aggregator == []


def test_subwords_options(decoder_only):
    explicit = decoder_only.aggregate("subwords", special_chars=("Ġ", "Ċ"))
    assert explicit == decoder_only.aggregate("subwords")
    target_only = make_encdec().aggregate("subwords", aggregate_source=False)
    assert len(target_only.source) == 4 and len(target_only.target) == 3


def test_subwords_without_markers_warns():
    with pytest.warns(UserWarning, match="No word-boundary marker"):
        out = small().aggregate("subwords")
    assert out.source == small().source


def test_subwords_with_tokenizer_recovers_markers():
    class FakeTokenizer:
        raw = {0: "Hel", 1: "lo", 2: "Ġworld", 3: "Ġis", 4: "Ġni", 5: "ce"}

        def convert_ids_to_tokens(self, idx):
            return self.raw[idx]

    seq = make_decoder_only()
    seq.target = [type(t)(t.token.replace("Ġ", ""), t.id) for t in seq.target]  # decoded, no markers
    seq.source = seq.target[:3]
    out = seq.aggregate("subwords", tokenizer=FakeTokenizer())
    assert [t.token for t in out.target] == ["Hello", "world", "is", "nice"]


@pytest.mark.parametrize(
    ("tokens", "kwargs", "expected"),
    [
        (["Hello", "Ċ", "World", "Ġagain", "!"], {}, [(3, 5)]),
        (["<|endoftext|>", "Hi", "Ġthere"], {}, []),
        (["[CLS]", "play", "##ing", "now"], {}, [(1, 3)]),
        (["hel", "lo</w>", "world</w>"], {"special_chars": "</w>", "is_suffix_symbol": True}, [(0, 2)]),
        (["▁a", "b", "▁c"], {"special_chars": "▁"}, [(0, 2)]),
        (["a", "b"], {}, None),
    ],
)
def test_get_word_spans(tokens, kwargs, expected):
    assert get_word_spans(tokens, **kwargs) == expected


@pytest.mark.parametrize(
    ("mode", "expected"), [("single", [(0, 2), (3, 5)]), ("start", [(0, 2), (2, 5)]), ("end", [(0, 3), (3, 5)])]
)
def test_split_spans(mode, expected):
    assert get_split_spans(["a", "b", ".", "c", "d"], r"\.", mode) == expected


def test_split_aggregator(decoder_only):
    out = decoder_only.aggregate("split", split_pattern="Ġ", split_mode="start")
    assert [t.token for t in out.target] == ["Hello", "Ġworld", "Ġis", "Ġnice"]
    with pytest.raises(ValueError, match="split_pattern"):
        decoder_only.aggregate("split")


# ---- pair / slices ---------------------------------------------------------------------------------------------------


def test_pair_and_sub_return_self_minus_other():
    a, b = make_encdec(seed=0), make_encdec(seed=1)
    b.source[0] = type(b.source[0])("▁Ciao", 9)
    diff = a - b
    assert allclose(diff.source_attributions, a.source_attributions - b.source_attributions)
    assert allclose(diff.step_scores["probability"], [0.0, 0.0, 0.0])
    assert diff.source[0].token == "▁Hel → ▁Ciao" and diff.source[0].id == -1
    assert a.aggregate("pair", paired_attr=b, aggregate_fn=lambda x, y: x + y) is not None
    with pytest.raises(ValueError, match="shapes differ"):
        a.aggregate("pair", paired_attr=small())


def test_slices_encoder_decoder(encdec):
    out = encdec[1:3]
    assert [t.token for t in out.source] == ["lo", "▁world"]
    assert allclose(out.source_attributions, encdec.source_attributions[1:3])
    assert out.target == encdec.target
    assert encdec[-1].source[0].token == "</s>"


def test_slices_decoder_only(decoder_only):
    out = decoder_only[0:1]
    assert [t.token for t in out.target] == ["Hel", "Ġis", "Ġni", "ce"]
    assert [t.token for t in out.source] == ["Hel"]
    assert (out.attr_pos_start, out.attr_pos_end) == (1, 4)
    assert allclose(out.target_attributions, decoder_only.target_attributions[[0, 3, 4, 5]])
    with pytest.raises(ValueError, match=r"prompt span \(0, 9\)"):
        decoder_only.aggregate("slices", target_spans=(0, 9))


def test_aggregation_does_not_mutate_input(encdec):
    before = make_encdec()
    encdec.aggregate("subwords")
    encdec.aggregate()
    assert encdec == before


def test_coarse_class_is_kept(decoder_only):
    assert isinstance(decoder_only.aggregate("subwords"), CoarseFeatureAttributionSequenceOutput)
