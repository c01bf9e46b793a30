"""Faithfulness metrics against hand computations with plain transformers forwards on tiny models."""

from __future__ import annotations

import pytest
import torch

from inseq.data import FeatureAttributionOutput
from inseq.evaluate import evaluate, list_faithfulness_metrics, spearman
from inseq.evaluate.metrics import DEFAULT_FRACTIONS


@pytest.fixture(scope="module")
def gpt2_out(gpt2) -> FeatureAttributionOutput:
    return gpt2.attribute(
        "The cat sat on the", generation_args={"max_new_tokens": 2}, show_progress=False, step_scores=["probability"]
    )


def _prob(model, ids: list[int], position: int) -> float:
    """Probability of ``ids[position]`` after ``ids[:position]`` (decoder-only), with a plain forward."""
    with torch.no_grad():
        logits = model.model(input_ids=torch.tensor([ids[:position]])).logits[0, -1]
    return float(logits.softmax(-1)[ids[position]])


def _prob_embeds(model, embeds: torch.Tensor, target: int) -> float:
    with torch.no_grad():
        logits = model.model(inputs_embeds=embeds.unsqueeze(0)).logits[0, -1]
    return float(logits.softmax(-1)[target])


def _with_scores(out: FeatureAttributionOutput, seq_index: int, step: int, scores: dict[int, float]):
    """A copy of ``out`` whose target scores at ``step`` are ``scores`` (position -> score), NaN elsewhere."""
    seq = out[seq_index]
    tensor = torch.full((len(seq.target), seq.num_steps), float("nan"))
    for col in range(seq.num_steps):
        tensor[: seq.attr_pos_start + col, col] = 0.0
    for i, v in scores.items():
        tensor[i, step] = v
    new = type(seq)(
        source=seq.source,
        target=seq.target,
        target_attributions=tensor,
        attr_pos_start=seq.attr_pos_start,
        attr_pos_end=seq.attr_pos_end,
    )
    return FeatureAttributionOutput([new], info=dict(out.info))


def _value(res, metric: str, step: int = 0) -> float:
    df = res.to_dataframe()
    return float(df[(df.metric == metric) & (df.step == step)]["value"].iloc[0])


def test_unperturbed_probability_matches_the_step_score(gpt2, gpt2_out):
    # A sufficiency with every token kept (fraction 1) reads the unperturbed probability twice: drop exactly 0.
    res = evaluate(gpt2, gpt2_out, ["sufficiency"], fractions=(1.0,), random_seeds=0)
    assert res.to_dataframe()["value"].abs().max() < 1e-6
    ids = [t.id for t in gpt2_out[0].target]
    probs = gpt2_out[0].step_scores["probability"]
    for step in range(gpt2_out[0].num_steps):
        assert _prob(gpt2, ids, gpt2_out[0].attr_pos_start + step) == pytest.approx(float(probs[step]), rel=1e-4)


def test_comprehensiveness_of_one_token_is_the_probability_drop(gpt2, gpt2_out):
    ids = [t.id for t in gpt2_out[0].target]
    p = gpt2_out[0].attr_pos_start
    out = _with_scores(gpt2_out, 0, 0, {1: 5.0, 0: 1.0, 2: 0.5})
    res = evaluate(gpt2, out, ["comprehensiveness"], fractions=(0.01,), random_seeds=0)
    removed = list(ids)
    removed[1] = gpt2.unk_token_id
    expected = _prob(gpt2, ids, p) - _prob(gpt2, removed, p)
    assert _value(res, "comprehensiveness") == pytest.approx(expected, abs=1e-6)


def test_comprehensiveness_aopc_averages_the_default_bins(gpt2, gpt2_out):
    ids = [t.id for t in gpt2_out[0].target]
    assert gpt2_out[0].attr_pos_start == 6
    p = gpt2_out[0].attr_pos_start  # 6 prompt tokens: bins remove 1, 1, 1, 2, 3 tokens
    ranking = {0: 0.1, 1: 0.5, 2: 0.3, 3: 0.9, 4: 0.2, 5: 0.05}
    out = _with_scores(gpt2_out, 0, 0, ranking)
    res = evaluate(gpt2, out, ["comprehensiveness", "sufficiency"], random_seeds=0)
    order = sorted(ranking, key=ranking.get, reverse=True)
    base = _prob(gpt2, ids, p)
    comp, suff = [], []
    for q in DEFAULT_FRACTIONS:
        k = [1, 1, 1, 2, 3][DEFAULT_FRACTIONS.index(q)]
        gone = [gpt2.unk_token_id if i in order[:k] else t for i, t in enumerate(ids)]
        kept = [t if i in order[:k] or i >= p else gpt2.unk_token_id for i, t in enumerate(ids)]
        comp.append(base - _prob(gpt2, gone, p))
        suff.append(base - _prob(gpt2, kept, p))
    assert _value(res, "comprehensiveness") == pytest.approx(sum(comp) / 5, abs=1e-6)
    assert _value(res, "sufficiency") == pytest.approx(sum(suff) / 5, abs=1e-6)


def test_deletion_removes_tokens_instead_of_replacing_them(gpt2, gpt2_out):
    ids = [t.id for t in gpt2_out[0].target]
    p = gpt2_out[0].attr_pos_start
    out = _with_scores(gpt2_out, 0, 0, {2: 3.0, 0: 1.0})
    res = evaluate(gpt2, out, ["comprehensiveness"], fractions=(0.01,), removal="delete", random_seeds=0)
    shorter = ids[:2] + ids[3 : p + 1]
    expected = _prob(gpt2, ids, p) - _prob(gpt2, shorter, p - 1)
    assert _value(res, "comprehensiveness") == pytest.approx(expected, abs=1e-6)


def test_deletion_and_insertion_curves_by_hand(gpt2, gpt2_out):
    ids = [t.id for t in gpt2_out[0].target]
    p = gpt2_out[0].attr_pos_start
    ranking = {0: 0.1, 1: 0.5, 2: 0.3, 3: 0.9, 4: 0.2, 5: 0.05}
    order = sorted(ranking, key=ranking.get, reverse=True)
    res = evaluate(gpt2, _with_scores(gpt2_out, 0, 0, ranking), ["deletion_auc", "insertion_auc"], random_seeds=0)
    unk = gpt2.unk_token_id
    deletion = [_prob(gpt2, [unk if i in order[:k] else t for i, t in enumerate(ids)], p) for k in range(p + 1)]
    insertion = [
        _prob(gpt2, [t if i in order[:k] or i >= p else unk for i, t in enumerate(ids)], p) for k in range(p + 1)
    ]

    def trapezoid(values):
        return sum((values[i] + values[i + 1]) / 2 / p for i in range(p))

    assert _value(res, "deletion_auc") == pytest.approx(trapezoid(deletion), abs=1e-6)
    assert _value(res, "insertion_auc") == pytest.approx(trapezoid(insertion), abs=1e-6)


def test_loo_correlation_by_hand(gpt2, gpt2_out):
    ids = [t.id for t in gpt2_out[0].target]
    p = gpt2_out[0].attr_pos_start + 1  # second step: 7 prefix tokens
    ranking = {0: 0.1, 1: 0.5, 2: 0.3, 3: 0.9, 4: 0.2, 5: 0.0, 6: 0.7}
    assert len(ranking) == p
    res = evaluate(gpt2, _with_scores(gpt2_out, 0, 1, ranking), ["loo_correlation"], random_seeds=0)
    base = _prob(gpt2, ids, p)
    effects = [
        base - _prob(gpt2, [gpt2.unk_token_id if j == i else t for j, t in enumerate(ids)], p) for i in range(p)
    ]
    expected = spearman(torch.tensor([ranking[i] for i in range(p)]), torch.tensor(effects))
    assert _value(res, "loo_correlation", step=1) == pytest.approx(expected, abs=1e-9)


def test_soft_metrics_with_extreme_scores_are_deterministic(gpt2, gpt2_out):
    # Normalised scores 1 (token 3) and 0 (the others): soft comprehensiveness zeroes token 3's whole embedding,
    # soft sufficiency zeroes every other token's embedding, whatever the Bernoulli draws.
    ids = [t.id for t in gpt2_out[0].target]
    p = gpt2_out[0].attr_pos_start
    out = _with_scores(gpt2_out, 0, 0, {3: 1.0})
    res = evaluate(gpt2, out, ["soft_comprehensiveness", "soft_sufficiency"], soft_samples=2, random_seeds=0)
    embeds = gpt2.embed_ids(torch.tensor(ids[:p]))
    base = _prob(gpt2, ids, p)
    only_3_zero = embeds.clone()
    only_3_zero[3] = 0
    only_3_kept = torch.zeros_like(embeds)
    only_3_kept[3] = embeds[3]
    assert _value(res, "soft_comprehensiveness") == pytest.approx(
        base - _prob_embeds(gpt2, only_3_zero, ids[p]), abs=1e-6
    )
    assert _value(res, "soft_sufficiency") == pytest.approx(base - _prob_embeds(gpt2, only_3_kept, ids[p]), abs=1e-6)


def test_encoder_decoder_source_comprehensiveness_by_hand(marian):
    out = marian.attribute("Hello world", generation_args={"max_new_tokens": 3}, show_progress=False)
    seq = out[0]
    src, tgt = [t.id for t in seq.source], [t.id for t in seq.target]
    res = evaluate(marian, out, ["comprehensiveness"], fractions=(0.01,), random_seeds=0)
    special = set(marian.special_tokens_ids)
    scores = seq.aggregate().source_attributions

    def prob(source: list[int], position: int) -> float:
        with torch.no_grad():
            logits = marian.model(
                input_ids=torch.tensor([source]), decoder_input_ids=torch.tensor([tgt[:position]])
            ).logits[0, -1]
        return float(logits.softmax(-1)[tgt[position]])

    for step in range(seq.num_steps):
        position = seq.attr_pos_start + step
        candidates = [i for i, t in enumerate(src) if t not in special]
        top = max(candidates, key=lambda i: float(scores[i, step]))
        removed = [marian.unk_token_id if i == top else t for i, t in enumerate(src)]
        assert _value(res, "comprehensiveness", step) == pytest.approx(
            prob(src, position) - prob(removed, position), abs=1e-6
        )


def test_every_metric_is_listed_and_described():
    from inseq.evaluate import describe_metric

    ids = list_faithfulness_metrics()
    for expected in (
        "comprehensiveness",
        "sufficiency",
        "soft_comprehensiveness",
        "soft_sufficiency",
        "deletion_auc",
        "insertion_auc",
        "loo_correlation",
        "randomization",
    ):
        assert expected in ids
        assert len(describe_metric(expected)) > 80


def test_spearman_ties_and_constants():
    assert spearman(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([3.0, 2.0, 1.0])) == pytest.approx(-1.0)
    assert spearman(torch.tensor([1.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 2.0])) == pytest.approx(1.0)
    assert spearman(torch.ones(3), torch.ones(3), both_constant=1.0) == 1.0
    assert spearman(torch.ones(3), torch.tensor([1.0, 2.0, 3.0])) == 0.0
