"""inseq 0.7 helpers that work on models: contrastive inputs of a step, batches from texts, DIG's path builder,
the ReAGent building blocks and the operator names of ``inseq.attr.feat.ops``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import inseq
from inseq.attr.step_functions import StepFunctionArgs, _get_contrast_inputs, probability_fn


@pytest.fixture(scope="module")
def gpt2(tiny_gpt2_path: Path):
    return inseq.load_model(str(tiny_gpt2_path), "saliency")


def test_get_contrast_inputs_gives_the_aligned_contrastive_targets(gpt2) -> None:
    """inseq 0.7's custom contrastive step function (its test ``attr_prob_diff_fn``) runs unchanged."""
    seen: list[torch.Tensor] = []

    def attr_prob_diff_fn(args: StepFunctionArgs, contrast_targets, contrast_targets_alignments=None, logprob=False):
        model_probs = probability_fn(args, logprob=logprob)
        c_out = _get_contrast_inputs(
            args,
            contrast_targets=contrast_targets,
            contrast_targets_alignments=contrast_targets_alignments,
            return_contrastive_target_ids=True,
        )
        seen.append(c_out.target_ids.clone())
        args.target_ids = c_out.target_ids
        return model_probs - probability_fn(args, logprob=logprob)

    inseq.register_step_function(attr_prob_diff_fn, "compat_attr_prob_diff", overwrite=True)
    prompt, target, contrast = "a b", "a b c d", "a b d d"
    out = gpt2.attribute(
        prompt, target, contrast_targets=contrast, step_scores=["compat_attr_prob_diff"], show_progress=False
    )
    contrast_ids = gpt2.encode(contrast).input_ids[0]
    target_ids = gpt2.encode(target).input_ids[0]
    start = len(gpt2.encode(prompt).input_ids[0])
    assert torch.cat(seen).tolist() == contrast_ids[start:].tolist()
    scores = out.sequence_attributions[0].step_scores["compat_attr_prob_diff"]
    same = (contrast_ids[start:] == target_ids[start:]).tolist()
    assert [abs(float(s)) < 1e-7 for s in scores] == same  # identical target and contrast: no difference


def test_get_contrast_inputs_outside_a_contrastive_run_names_the_fix() -> None:
    args = StepFunctionArgs(None, None, torch.tensor([1]))
    with pytest.raises(ValueError, match=r"pass them to model.attribute\(...\)"):
        _get_contrast_inputs(args, contrast_targets="x")


def test_get_batch_from_inputs_encodes_and_embeds(gpt2) -> None:
    from inseq.data import get_batch_from_inputs, slice_batch_from_position

    batch = get_batch_from_inputs(gpt2, ["a b c", "a"])
    assert batch.input_ids.shape == batch.baseline_ids.shape == batch.attention_mask.shape
    assert batch.attention_mask.sum(1).tolist() == [len(gpt2.encode(t).input_ids[0]) for t in ("a b c", "a")]
    assert torch.allclose(batch.input_embeds, gpt2.embed_ids(batch.input_ids))
    assert torch.allclose(batch.baseline_embeds, gpt2.embed_ids(batch.baseline_ids))
    assert get_batch_from_inputs(gpt2, batch) is batch
    with pytest.raises(TypeError, match="got int"):
        get_batch_from_inputs(gpt2, 3)
    from inseq.data.batch import DecoderOnlyBatch

    ids = torch.tensor([[5, 6, 7, 8], [1, 2, 3, 4]])
    full = DecoderOnlyBatch(ids, torch.ones_like(ids), ids, [[], []], [1, 1], [4, 4], prompt_lengths=[1, 1])
    prefix, next_ids = slice_batch_from_position(full, 2)
    assert prefix.target_ids.tolist() == [[5, 6], [1, 2]] and next_ids.tolist() == [7, 3]
    with pytest.raises(ValueError, match="different positions"):
        slice_batch_from_position(full, 1, alignments=[[(1, 1)], [(1, 2)]])


# ------------------------------------------------------------------------------------------------- DIG path builder


def _original_monotonic(baseline: torch.Tensor, inputs: torch.Tensor, point: torch.Tensor) -> torch.Tensor:
    """DIG's definition, dimension by dimension: the point lies between baseline and input (equal if they are)."""
    out = torch.zeros_like(point, dtype=torch.bool)
    for idx in np.ndindex(*point.shape):
        b, i, p = float(baseline[idx]), float(inputs[idx]), float(point[idx])
        out[idx] = (b > i and i <= p <= b) or (b < i and b <= p <= i) or (b == i == p)
    return out


@pytest.mark.parametrize("shape", [(16,), (4, 3), (2, 3, 2)])
def test_monotonic_dims_match_the_definition(shape: tuple[int, ...]) -> None:
    from inseq.attr.feat.ops import MonotonicPathBuilder

    gen = torch.Generator().manual_seed(0)
    baseline, inputs, point = (torch.randn(shape, generator=gen) for _ in range(3))
    point.view(-1)[0] = baseline.view(-1)[0]  # on the boundary: still monotonic
    got = MonotonicPathBuilder.get_monotonic_dims(point, baseline, inputs)
    assert torch.equal(got, _original_monotonic(baseline, inputs, point))


def test_monotonic_path_builder_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from inseq.attr.feat.ops import MonotonicPathBuilder

    monkeypatch.setenv("INSEQ_ARTIFACTS_CACHE", str(tmp_path))
    emb = torch.randn(40, 6, generator=torch.Generator().manual_seed(3))
    builder = MonotonicPathBuilder.load("toy", emb, special_tokens=[1], n_neighbors=6)
    assert list((tmp_path / "dig_knn").glob("*.npz"))  # the kNN graph is cached as .npz (no pickle)
    words = builder.find_path(5, ref_idx=0, n_steps=8)
    assert words[0] == 5 and len(set(words)) == len(words) and 1 not in words
    assert all(b in builder.knn_graph.indices[a].tolist() for a, b in zip(words, words[1:]))
    path = builder.build_monotonic_path_embedding(5, baseline_idx=0, n_steps=8)
    assert path.shape == (8, 6)
    assert torch.allclose(path[0], emb[0]) and torch.allclose(path[-1], emb[5])
    steps = (path[1:] - path[:-1]) * torch.sign(emb[5] - emb[0])
    assert (steps >= -1e-6).all()  # every dimension moves monotonically from the baseline to the word
    with pytest.raises(ValueError, match="Unknown path building strategy 'zigzag'"):
        builder.find_path(5, strategy="zigzag")


# ------------------------------------------------------------------------------------------------- ReAGent parts


def test_reagent_parts_configure_reagent(gpt2) -> None:
    from inseq.attr.feat.ops.reagent_core import (
        AggregateRationalizer,
        DeltaProbImportanceScoreEvaluator,
        TopKStoppingConditionEvaluator,
        UniformTokenReplacer,
    )
    from inseq.attr.feat.perturbation.token_sampler import UniformTokenSampler

    sampler = UniformTokenSampler(vocab_size=50, special_ids=[0, 1])
    ids = torch.full((2, 50), 7)
    replaced, mask = UniformTokenReplacer(sampler, ratio=0.4)(ids, torch.Generator().manual_seed(0))
    assert torch.equal(replaced[~mask], ids[~mask]) and not bool(torch.isin(replaced, torch.tensor([0, 1])).any())
    assert 0.2 < mask.float().mean() < 0.6
    stop = TopKStoppingConditionEvaluator(top_k=2, keep_top_n=1)
    evaluator = DeltaProbImportanceScoreEvaluator(UniformTokenReplacer(sampler, 0.4), stop, max_steps=3)
    rationalizer = AggregateRationalizer(evaluator, batch_size=4)
    options = rationalizer.reagent_options()
    assert options == {
        "num_probes": 4,
        "replacing_ratio": 0.4,
        "token_sampler": "uniform",
        "max_probe_steps": 3,
        "stopping_condition_top_k": 2,
        "keep_top_n": 1,
        "keep_ratio": None,
        "invert_keep": False,
    }
    default = gpt2.attribution_method
    with pytest.warns(UserWarning):  # three probe steps cannot meet the stopping condition everywhere
        got = rationalizer(gpt2, "a b", "a b c d", show_progress=False, seed=3)
    assert gpt2.attribution_method is default
    reference = inseq.load_model(gpt2.model, "reagent", tokenizer=gpt2.tokenizer, **options)
    with pytest.warns(UserWarning):
        expected = reference.attribute("a b", "a b c d", show_progress=False, seed=3)
    assert got.info["attribution_method"] == "reagent"
    torch.testing.assert_close(got[0].target_attributions, expected[0].target_attributions, equal_nan=True)
