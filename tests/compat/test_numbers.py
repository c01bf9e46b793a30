"""Numbers equal inseq 0.7's where inseq is right: baselines, LIME, convergence deltas of layer methods."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

import inseq

SOURCE, TARGET = "The kind mother found the paper.", "The kind mother found the water."


@pytest.fixture(scope="module")
def marian(tiny_model_path: Callable[[str], Path]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return inseq.load_model(str(tiny_model_path("marian")), "integrated_gradients")


def test_target_baseline_keeps_the_decoder_start(marian: Any) -> None:
    examples = marian.prepare_examples([SOURCE], [TARGET], {})
    batch = marian.build_batch(examples, None, None, include_eos_baseline=False)
    ids, base = batch.target_ids[0].tolist(), batch.target_baseline_ids[0].tolist()
    assert base[0] == ids[0] == marian.bos_token_id  # decoder start kept, as in inseq
    assert base[-1] == ids[-1] == marian.eos_token_id  # EOS kept unless include_eos_baseline
    assert set(base[1:-1]) == {marian.unk_token_id}
    enc = marian.encode(TARGET, as_targets=True, return_baseline=True)
    assert enc.input_ids[0, 0] == enc.baseline_ids[0, 0] == marian.bos_token_id


@pytest.mark.parametrize(
    ("method", "kwargs"),
    [
        ("integrated_gradients", {"n_steps": 8}),
        ("deeplift", {}),
        ("gradient_shap", {"n_samples": 2}),
        ("occlusion", {}),
    ],
)
def test_decoder_start_column_is_zero_with_baselines(marian: Any, method: str, kwargs: dict[str, Any]) -> None:
    torch.manual_seed(0)
    out = marian.attribute(SOURCE, TARGET, method=method, attribute_target=True, show_progress=False, **kwargs)
    target = out[0].target_attributions
    # row 0 is the decoder start: input == baseline there, so inseq (and now this library) gives it 0
    assert torch.equal(target[0].nan_to_num(), torch.zeros_like(target[0]))
    assert target[1:].nan_to_num().abs().sum() > 0


def test_value_zeroing_dissimilarity_has_no_float32_cancellation() -> None:
    from inseq.attr.feat.internals.value_zeroing import _dissimilarity

    torch.manual_seed(0)
    clean = torch.randn(4, 64)
    corrupted = clean + 1e-3 * torch.randn(4, 64)  # nearly identical states: 1 - cos of order 1e-6
    exact = 1 - torch.nn.functional.cosine_similarity(clean.double(), corrupted.double(), dim=-1)
    got = _dissimilarity(clean, corrupted, "cosine")
    assert float(exact.min()) < 1e-5  # the regime of the 1e-5 cut-off
    torch.testing.assert_close(got, exact, rtol=1e-9, atol=0)


def test_lime_is_inseq_algorithm_on_the_same_masks(tiny_model_path: Callable[[str], Path]) -> None:
    """Recompute inseq 0.7's LIME step by step (one forward per sample and prefix, sklearn Ridge on the flattened
    perturbed embeddings, weights = unchanged elements) with the masks the engine drew: the coefficients match."""
    from sklearn.linear_model import Ridge

    from inseq.attr.feat.perturbation.lime import lime_masks
    from inseq.testing.reference import encode_example

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = inseq.load_model(str(tiny_model_path("gpt2")), "lime")
    prompt, text, n_samples, seed = "the cat", "the cat sat on", 12, 3
    out = model.attribute(prompt, text, n_samples=n_samples, seed=seed, show_progress=False)
    ex = encode_example(model, prompt, text)
    ids = torch.tensor([ex.target_ids])
    special = torch.tensor([[i in set(model.special_tokens_ids) for i in ex.target_ids]])
    masks = lime_masks(~special, n_samples, 0.3, torch.Generator().manual_seed(seed))[:, 0]
    with torch.no_grad():
        embeds = model.embed_ids(ids)[0].double()
        filler = model.embed_ids(torch.tensor([[model.unk_token_id]]))[0, 0].double()
    for col, p in enumerate(range(ex.prompt_length, len(ex.target_ids))):
        feats, ys, ws = [], [], []
        for s in range(n_samples):
            sample = torch.where(masks[s, :p].unsqueeze(-1), filler, embeds[:p])
            with torch.no_grad():
                logits = model.model(inputs_embeds=sample.float().unsqueeze(0)).logits[0, -1]
            ys.append(float(logits.softmax(-1)[ex.target_ids[p]]))
            ws.append(float((sample == embeds[:p]).sum()))  # inseq's kernel: unchanged input elements
            feats.append(sample.reshape(-1).numpy())
        ridge = Ridge().fit(feats, ys, sample_weight=ws)
        expected = torch.from_numpy(ridge.coef_).reshape(p, -1).float()
        got = out[0].target_attributions[:p, col]
        scale = float(expected.abs().max())
        assert scale > 0
        torch.testing.assert_close(got, expected, rtol=1e-3, atol=1e-3 * scale)


@pytest.mark.parametrize(
    ("method", "kwargs"),
    [
        ("layer_integrated_gradients", {"n_steps": 16}),
        ("layer_deeplift", {}),
        ("deeplift", {}),
        ("gradient_shap", {"n_samples": 3}),
    ],
)
def test_return_convergence_delta_gives_deltas(
    tiny_model_path: Callable[[str], Path], method: str, kwargs: dict[str, Any]
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = inseq.load_model(str(tiny_model_path("gpt2")), method)
        out = model.attribute(
            "the cat", "the cat sat on", return_convergence_delta=True, show_progress=False, **kwargs
        )
    seq = out[0]
    deltas = seq.step_scores["deltas"]
    assert deltas.shape == (seq.attr_pos_end - seq.attr_pos_start,)
    assert torch.isfinite(deltas).all()


def test_layer_ig_deltas_shrink_with_steps(tiny_model_path: Callable[[str], Path]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = inseq.load_model(str(tiny_model_path("gpt2")), "layer_integrated_gradients")
    gaps = []
    for n_steps in (2, 64):
        out = model.attribute(
            "the cat", "the cat sat on", n_steps=n_steps, return_convergence_delta=True, show_progress=False
        )
        gaps.append(float(out[0].step_scores["deltas"].abs().mean()))
    # more integration steps close the completeness gap Captum reports
    assert gaps[1] < gaps[0]
