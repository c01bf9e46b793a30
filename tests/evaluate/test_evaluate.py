"""evaluate(): ordering sanity, randomization check, batch invariance, outputs, every method, bad inputs."""

from __future__ import annotations

import json

import pytest
import torch

import inseq
from inseq.attr.feat.base import METHODS, FeatureAttribution, MethodResult
from inseq.data import FeatureAttributionOutput
from inseq.evaluate import FaithfulnessOutput, evaluate, evaluate_and_save, faithfulness_path
from inseq.examples import get_example_model_path
from inseq.examples.tasks import eval_set


@pytest.fixture(scope="module")
def toy() -> inseq.AttributionModel:
    return inseq.load_model(str(get_example_model_path("toy-gpt2-ioi")), "saliency")


@pytest.fixture(scope="module")
def copy_out(toy) -> FeatureAttributionOutput:
    examples = eval_set("copy", 3)
    return toy.attribute(
        [ex.prompt for ex in examples], [ex.prompt + ex.target_words[0] for ex in examples], show_progress=False
    )


def _loo_effects(model, ids: list[int], position: int) -> torch.Tensor:
    """Probability drop of ``ids[position]`` when each earlier token alone is replaced by UNK (plain forwards)."""
    rows = [ids[:position]] + [
        [model.unk_token_id if j == i else t for j, t in enumerate(ids[:position])] for i in range(position)
    ]
    with torch.no_grad():
        probs = model.model(input_ids=torch.tensor(rows)).logits[:, -1].softmax(-1)[:, ids[position]]
    return probs[0] - probs[1:]


def _oracle(model, out: FeatureAttributionOutput, sign: float) -> FeatureAttributionOutput:
    """``out`` with its scores replaced by (``sign`` x) the leave-one-out effects themselves."""
    seqs = []
    for seq in out:
        ids = [t.id for t in seq.target]
        tensor = torch.full((len(ids), seq.num_steps), float("nan"))
        for step in range(seq.num_steps):
            p = seq.attr_pos_start + step
            tensor[:p, step] = sign * _loo_effects(model, ids, p)
        seqs.append(type(seq)(seq.source, seq.target, target_attributions=tensor, attr_pos_start=seq.attr_pos_start))
    return FeatureAttributionOutput(seqs, info=dict(out.info))


def test_oracle_beats_random_and_reversed_ranking_loses(toy, copy_out):
    metrics = ["comprehensiveness", "loo_correlation", "deletion_auc"]
    good = evaluate(toy, _oracle(toy, copy_out, 1.0), metrics).summary()
    bad = evaluate(toy, _oracle(toy, copy_out, -1.0), metrics).summary()
    assert good.loc["loo_correlation", "value"] == pytest.approx(1.0)
    assert bad.loc["loo_correlation", "value"] == pytest.approx(-1.0)
    assert abs(good.loc["loo_correlation", "random"]) < 0.5
    assert good.loc["comprehensiveness", "value"] > good.loc["comprehensiveness", "random"] + 0.1
    assert bad.loc["comprehensiveness", "value"] < bad.loc["comprehensiveness", "random"]
    assert good.loc["deletion_auc", "value"] < good.loc["deletion_auc", "random"] < bad.loc["deletion_auc", "value"]
    # the random control does not depend on the scores being evaluated
    assert good.loc["comprehensiveness", "random"] == pytest.approx(bad.loc["comprehensiveness", "random"])


def test_randomization_separates_a_gradient_method_from_a_constant_attribution(toy, copy_out):
    class Constant(FeatureAttribution):  # registered on definition, removed at the end of the test
        method_name = "constant_for_tests"
        output_kind = "plain"

        def compute(self, ctx) -> MethodResult:
            batch = ctx.batch
            return MethodResult(target=torch.ones(batch.size, ctx.n_positions, batch.target_ids.shape[1]))

    try:
        const_out = toy.attribute(
            [t for t in copy_out.info["input_texts"]],
            copy_out.info["generated_texts"],
            method="constant_for_tests",
            show_progress=False,
        )
        const = evaluate(toy, const_out, ["randomization"]).summary()
    finally:
        METHODS._items.pop("constant_for_tests", None)
    grad = evaluate(toy, copy_out, ["randomization"]).summary()
    assert const.loc["randomization", "value"] == pytest.approx(1.0)
    assert grad.loc["randomization", "value"] < 0.8
    assert grad.loc["randomization", "random"] == pytest.approx(1.0)  # a seeded random ranking ignores the weights
    # the weights are restored afterwards
    again = toy.attribute(copy_out.info["input_texts"], copy_out.info["generated_texts"], show_progress=False)
    assert torch.allclose(again[0].target_attributions.nan_to_num(), copy_out[0].target_attributions.nan_to_num())


def test_batch_invariance(gpt2):
    out = gpt2.attribute(
        ["Hello world", "The cat sat on the mat"], generation_args={"max_new_tokens": 2}, show_progress=False
    )
    metrics = ["comprehensiveness", "sufficiency", "soft_comprehensiveness", "insertion_auc", "loo_correlation"]
    together = evaluate(gpt2, out, metrics).to_dataframe()
    alone = [evaluate(gpt2, FeatureAttributionOutput([seq], info=out.info), metrics).to_dataframe() for seq in out]
    assert len(together) == sum(len(df) for df in alone)
    for i, df in enumerate(alone):
        part = together[together.sequence == i].reset_index(drop=True)
        assert part[["step", "metric"]].equals(df[["step", "metric"]])
        assert torch.allclose(torch.tensor(part["value"].values), torch.tensor(df["value"].values), atol=1e-6)
        assert torch.allclose(torch.tensor(part["random"].values), torch.tensor(df["random"].values), atol=1e-6)
    split = evaluate(gpt2, out, metrics, batch_size=1).to_dataframe()
    assert torch.allclose(torch.tensor(split["value"].values), torch.tensor(together["value"].values), atol=1e-6)


def test_output_frames_summary_show_and_save(gpt2, tmp_path, capsys):
    out = gpt2.attribute("Hello world", generation_args={"max_new_tokens": 2}, show_progress=False)
    res = evaluate(gpt2, out, ["comprehensiveness", "sufficiency"], random_seeds=2)
    df = res.to_dataframe()
    assert list(df.columns) == ["sequence", "step", "position", "token", "metric", "value", "random"]
    assert len(df) == 2 * out[0].num_steps and df["random"].notna().all()
    summary = res.summary()
    assert list(summary.index) == ["comprehensiveness", "sufficiency"]
    assert list(summary.columns) == ["value", "random"]
    assert summary.loc["sufficiency", "value"] == pytest.approx(df[df.metric == "sufficiency"]["value"].mean())
    res.show()
    printed = capsys.readouterr().out
    assert "comprehensiveness" in printed and "lower is better" in printed
    path = tmp_path / "x.faithfulness.json"
    res.save(path)
    assert FaithfulnessOutput.load(path).records == json.loads(json.dumps(res.records))
    saved = evaluate_and_save(gpt2, out, ["comprehensiveness"], tmp_path / "y.json", random_seeds=0)
    assert json.loads((tmp_path / "y.json").read_text())["records"][0]["metric"] == "comprehensiveness"
    assert saved.to_dataframe()["random"].isna().all()
    assert faithfulness_path("a/out.json") == "a/out.faithfulness.json"


def test_progress_bar_and_delete_mode_on_encoder_decoder_target_side(marian):
    out = marian.attribute(
        "Hello world", generation_args={"max_new_tokens": 3}, show_progress=False, attribute_target=True
    )
    res = evaluate(marian, out, ["comprehensiveness", "insertion_auc"], removal="delete", show_progress=True)
    df = res.to_dataframe()
    assert len(df) == 2 * out[0].num_steps and df["value"].notna().all()


METHOD_IDS = sorted(m for m in inseq.list_feature_attribution_methods() if m not in ("dummy", "constant_for_tests"))


@pytest.mark.parametrize("method", METHOD_IDS)
def test_every_method_on_both_model_kinds(gpt2, marian, tiny_gpt2_path, tiny_marian_path, method):
    models = (gpt2, marian)
    if method == "reagent":  # few probes: the default probing runs for minutes on CPU
        models = tuple(
            inseq.load_model(str(path), "reagent", max_probe_steps=3, num_probes=4)
            for path in (tiny_gpt2_path, tiny_marian_path)
        )
    extra = {"n_steps": 4} if "integrated" in method else {"n_samples": 8} if method == "lime" else {}
    for model in models:
        out = model.attribute(
            "Hello world", generation_args={"max_new_tokens": 2}, method=method, show_progress=False, **extra
        )
        res = evaluate(model, out, ["comprehensiveness", "loo_correlation"], random_seeds=1)
        summary = res.summary()
        assert summary["value"].notna().all(), (method, model.info["model_class"])
        assert summary["random"].notna().all(), (method, model.info["model_class"])


def test_bad_inputs(gpt2, marian):
    out = gpt2.attribute("Hello world", generation_args={"max_new_tokens": 1}, show_progress=False)
    with pytest.raises(ValueError, match="Unknown faithfulness metric 'nope'.*comprehensiveness"):
        evaluate(gpt2, out, ["nope"])
    with pytest.raises(ValueError, match="comes from model .* evaluated with model"):
        evaluate(marian, out)
    with pytest.raises(ValueError, match="empty"):
        evaluate(gpt2, FeatureAttributionOutput([], info=out.info))
    with pytest.raises(TypeError, match="FeatureAttributionOutput"):
        evaluate(gpt2, out[0])
    with pytest.raises(ValueError, match="removal mode 'zero'"):
        evaluate(gpt2, out, ["comprehensiveness"], removal="zero")
    with pytest.raises(ValueError, match="contrastive"):
        evaluate(gpt2, out, ["comprehensiveness"], attributed_fn="contrast_prob_diff")
