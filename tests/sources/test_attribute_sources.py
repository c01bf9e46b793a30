"""``attribute_sources`` on decoder-only (plain and chat-formatted) and encoder-decoder models, checked against plain
forwards of the model (an independent reference) and against the engine's own options."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import inseq
from inseq.sources import SourceAttributionOutput, load_source_attributions
from inseq.sources.scoring import logit_probability

KV = {"template": "Pairs: {context}. {query}", "chat_template": False}
PAIRS = ["Mary cup", "John hat", "Tom key", "Anna pen"]
CHAT = (
    "{{ bos_token }}{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}[assistant]{% endif %}"
)


@pytest.fixture(scope="module")
def toy():
    return inseq.load_model(str(inseq.examples.get_example_model_path("toy-gpt2-ioi")), "saliency")


@pytest.fixture(scope="module")
def tiny(tiny_model_path):
    cache = {}

    def get(arch):
        if arch not in cache:
            cache[arch] = inseq.load_model(str(tiny_model_path(arch)), "saliency")
        return cache[arch]

    return get


def _reference_logprobs(model, prompt: str, response_ids: list[int]) -> np.ndarray:
    """Response token log-probabilities from one plain forward of the transformers model (no inseq engine)."""
    prompt_ids = model.tokenizer(prompt)["input_ids"]
    ids = torch.tensor([prompt_ids + response_ids])
    with torch.no_grad():
        logprobs = model.model(input_ids=ids).logits[0].log_softmax(-1)
    return np.array([float(logprobs[len(prompt_ids) + j - 1, t]) for j, t in enumerate(response_ids)])


def test_leave_one_out_equals_plain_forwards(toy):
    out = toy.attribute_sources(PAIRS, "Tom", method="leave_one_out", **KV)
    response = out.info["response_ids"]
    assert out.response == " key."
    expected = []
    for drop in [None, *range(len(PAIRS))]:
        kept = [p for i, p in enumerate(PAIRS) if i != drop]
        expected.append(_reference_logprobs(toy, f"Pairs: {' '.join(kept)}. Tom", response))
    np.testing.assert_allclose(out.token_logprobs, np.stack(expected), atol=1e-4)
    target = logit_probability(np.stack(expected))
    np.testing.assert_allclose(out.scores, target[0] - target[1:], atol=1e-3)
    assert out.top(1) == [2]


def test_ablation_rows_equal_plain_forwards_and_sharing_changes_nothing(toy):
    out = toy.attribute_sources(PAIRS, "John", n_ablations=8, seed=3, **KV)
    assert out.masks.shape == (8, 4) and out.info["n_forwards"] >= 1
    for mask, row in zip(out.masks, out.token_logprobs):
        kept = " ".join(p for p, k in zip(PAIRS, mask) if k)
        np.testing.assert_allclose(
            row, _reference_logprobs(toy, f"Pairs: {kept}. John", out.info["response_ids"]), atol=1e-4
        )
    again = toy.attribute_sources(PAIRS, "John", n_ablations=8, seed=3, batch_size=1, **KV)
    np.testing.assert_allclose(again.token_logprobs, out.token_logprobs, atol=1e-5)  # float32, other batch shapes
    assert np.abs(again.scores - out.scores).max() <= 1e-5 * np.abs(out.scores).max()  # of the weights' scale


def test_scores_for_a_part_of_the_response(toy):
    for method in ("ablation", "leave_one_out", "saliency"):
        out = toy.attribute_sources(PAIRS, "Anna", method=method, n_ablations=16, **KV)
        whole = out.scores_for(0, len(out.response))
        np.testing.assert_allclose(whole, out.scores, atol=1e-6, err_msg=method)
        first = out.scores_for(0, 1)
        assert first.shape == (4,) and not np.allclose(first, whole), method


@pytest.mark.parametrize("method", ["attention", "saliency", "attnlrp", "input_x_gradient"])
def test_token_level_methods_sum_over_each_sources_tokens(toy, method):
    out = toy.attribute_sources(PAIRS, "Tom", method=method, **KV)
    assert out.token_scores.shape == (2, 4)
    np.testing.assert_allclose(out.token_scores.sum(0), out.scores)
    seq = toy.attribute(f"Pairs: {' '.join(PAIRS)}. Tom", f"Pairs: {' '.join(PAIRS)}. Tom key.", method=method,
                        show_progress=False)[0]  # fmt: skip
    scores = seq.target_attributions.float()
    scores = scores.sum(-1) if scores.ndim == 3 else scores.mean((-1, -2))
    tokens = [t.token for t in seq.target]
    first_pair = slice(2, 4)  # 'Pairs', ':', then ' Mary', ' cup'
    assert tokens[first_pair] == ["ĠMary", "Ġcup"]
    assert out.scores[0] == pytest.approx(float(scores[first_pair].nan_to_num().sum()), rel=1e-4, abs=1e-6)


def test_chat_template_prompt_and_shared_prefix(tiny):
    model = tiny("llama")
    out = model.attribute_sources("One sentence here. Another one there.", "What?", chat_template=CHAT,
                                  response=" a b c", n_ablations=6)  # fmt: skip
    assert out.sources == ["One sentence here.", "Another one there."]
    assert out.info["chat_template"] is True and out.response == "a b c"
    model.tokenizer.chat_template = CHAT
    try:
        default = model.attribute_sources("One sentence here. Another one there.", "What?", response=" a b c",
                                          n_ablations=6)  # fmt: skip
        plain = model.attribute_sources("One sentence here. Another one there.", "What?", response=" a b c",
                                        n_ablations=6, chat_template=False)  # fmt: skip
    finally:
        model.tokenizer.chat_template = None
    np.testing.assert_allclose(default.scores, out.scores, atol=1e-6)
    assert not np.allclose(plain.token_logprobs, out.token_logprobs)


def test_messages_as_sources(tiny):
    model = tiny("qwen2")
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Mary has a cup."},
        {"role": "user", "content": "What does Mary have?"},
    ]
    out = model.attribute_sources(messages=messages, chat_template=CHAT, response=" a cup", method="leave_one_out")
    assert out.sources == [m["content"] for m in messages] and out.source_parts == [0, 1, 2]
    sentences = model.attribute_sources(messages=messages, chat_template=CHAT, response=" a cup", source_type="word",
                                        n_ablations=4)  # fmt: skip
    assert len(sentences.sources) == 10 and sentences.source_parts[0] == 0 and sentences.source_parts[-1] == 2
    html = out._repr_html_()
    assert "[system]" not in html and "system:" in html and "Mary has a cup." in html


@pytest.mark.parametrize("arch", ["bart", "marian", "t5"])
def test_encoder_decoder_models(tiny, arch):
    model = tiny(arch)
    out = model.attribute_sources(["a b c", "d e f", "g h"], None, template="{context}", chat_template=False,
                                  method="leave_one_out", response="x y")  # fmt: skip
    assert out.scores.shape == (3,) and np.isfinite(out.scores).all()
    ids = model.encode(["a b c d e f g h"]).input_ids
    target = [model.bos_token_id, *out.info["response_ids"]]
    with torch.no_grad():
        logits = model.model(input_ids=ids, decoder_input_ids=torch.tensor([target])).logits[0]
    reference = [float(logits[j].log_softmax(-1)[t]) for j, t in enumerate(target[1:])]
    np.testing.assert_allclose(out.token_logprobs[0], reference, atol=1e-4)
    generated = model.attribute_sources(["a b c", "d e f"], None, template="{context}", chat_template=False,
                                        n_ablations=4, generation_args={"max_new_tokens": 3})  # fmt: skip
    assert 1 <= len(generated.response_spans) <= 3


def test_generated_response_and_forced_ids(toy):
    generated = toy.attribute_sources(PAIRS, "John", method="leave_one_out", **KV)
    assert generated.response == " hat."
    by_ids = toy.attribute_sources(
        PAIRS, "John", method="leave_one_out", response=generated.info["response_ids"], **KV
    )
    np.testing.assert_allclose(by_ids.scores, generated.scores)


def test_save_load_and_evaluate(toy, tmp_path):
    out = toy.attribute_sources(PAIRS, "Tom", n_ablations=16, **KV)
    path = tmp_path / "sources.json"
    out.save(path)
    loaded = load_source_attributions(path)
    assert isinstance(loaded, SourceAttributionOutput)
    np.testing.assert_allclose(loaded.scores, out.scores)
    np.testing.assert_allclose(loaded.scores_for(0, 2), out.scores_for(0, 2), atol=1e-6)
    assert loaded.to_dataframe(top_k=2)["source"].tolist() == out.to_dataframe(top_k=2)["source"].tolist()
    result = out.evaluate(n_test=8)
    summary = {r["metric"]: r for r in result.records}
    assert set(summary) == {"lds", "topk_drop@1", "topk_drop@3"}
    assert summary["topk_drop@1"]["value"] > summary["topk_drop@1"]["random"]
    again = loaded.evaluate(model=toy, n_test=8)
    values = [r["value"] for r in result.records]
    assert [r["value"] for r in again.records] == pytest.approx(values, rel=1e-6, abs=1e-6)  # float32 sums
    with pytest.raises(inseq.utils.errors.InvalidArgumentError, match="loaded from a file: pass model="):
        loaded.evaluate()


def test_views(toy, capsys):
    out = toy.attribute_sources(PAIRS, "Tom", method="leave_one_out", **KV)
    out.show()
    printed = capsys.readouterr().out
    assert "Response:" in printed and "Tom key" in printed
    html = out._repr_html_()
    assert html.count('class="s"') == 4 and "rank 1" in html and "background:rgb" in html


def test_the_face_and_the_model_method(toy):
    a = inseq.attribute_sources(toy, PAIRS, "Tom", method="leave_one_out", **KV)
    b = toy.attribute_sources(PAIRS, "Tom", method="leave_one_out", **KV)
    np.testing.assert_allclose(a.scores, b.scores)
    assert "lds" in inseq.list_faithfulness_metrics() and "topk_drop" in inseq.list_faithfulness_metrics("source")
