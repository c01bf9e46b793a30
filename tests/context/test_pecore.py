"""PECoRe at token level on decoder-only models with and without BOS, chat prompts, glued continuations and EOS."""

from __future__ import annotations

from pathlib import Path

import pytest

import inseq
from inseq.context import AttributeContextOutput, ContextAttributionError, attribute_context
from inseq.context.sequences import build_sequence, fill_template
from inseq.context.tokens import TokenizedText
from inseq.examples import get_example_model_path

PROMPT_CONTEXT = "George was sick yesterday."
PROMPT_CURRENT = "His colleagues asked him to come"
GEN = {"max_new_tokens": 4, "min_new_tokens": 4, "do_sample": False}


@pytest.fixture(scope="module")
def models(tiny_model_path) -> dict[str, inseq.AttributionModel]:
    return {name: inseq.load_model(str(tiny_model_path(name)), "saliency") for name in ("llama", "qwen2", "gpt2")}


@pytest.fixture(scope="module")
def toy() -> inseq.AttributionModel:
    return inseq.load_model(str(get_example_model_path("toy-gpt2-ioi")), "saliency")


def _run(model, **kwargs) -> AttributeContextOutput:
    defaults = {"context_sensitivity_std_threshold": 0.0, "context_sensitivity_topk": 1, "show_viz": False}
    return attribute_context(model_name_or_path=model, **{**defaults, **kwargs})


def _new_tokens_text(model, prompt: str, gen: dict) -> str:
    out = model.attribute(prompt, method="dummy", generation_args=gen, show_progress=False)[0]
    ids = [t.id for t in out.target][out.attr_pos_start :]
    return model.decode([[i for i in ids if i not in set(model.special_tokens_ids)]], skip_special_tokens=True)[0]


@pytest.mark.parametrize("name", ["llama", "qwen2", "gpt2"])
def test_generated_output_is_only_the_new_tokens(models, name: str) -> None:
    # inseq 0.7 separated the continuation by string matching: on a BOS model the output repeated
    # "<s>George was sick yesterday. His colleagues..." and prompt tokens got CTI scores; a continuation glued to
    # "come" crashed with attr_pos_start=-1.
    model = models[name]
    out = _run(model, input_context_text=PROMPT_CONTEXT, input_current_text=PROMPT_CURRENT, generation_kwargs=GEN)
    expected = _new_tokens_text(model, f"{PROMPT_CONTEXT} {PROMPT_CURRENT}", GEN)
    assert out.output_current.strip() == expected.strip()
    assert "colleagues" not in out.output_current and "<s>" not in out.output_current
    assert len(out.cti_scores) == len(out.output_current_tokens) > 0
    # the scored tokens are the output's (a token merging the last prompt characters with the output included)
    text = model.tokenizer.convert_tokens_to_string(out.output_current_tokens)
    assert out.output_current.strip() in text and "to" not in text.split()
    cci = out.cci_scores[0]
    assert len(cci.input_context_scores) == len(out.input_context_tokens)
    context = model.tokenizer.convert_tokens_to_string(out.input_context_tokens)
    assert context.strip() == PROMPT_CONTEXT


@pytest.mark.parametrize("name", ["llama", "qwen2"])
def test_forced_output_glued_to_the_last_prompt_word(models, name: str) -> None:
    # "the ca" + "t sat" tokenizes as "the" "Ġcat" "Ġsa" "t": the merged token moves to the output side.
    model = models[name]
    out = _run(
        model,
        input_context_text="the dog",
        input_current_text="the ca",
        output_current_text="t sat",
        decoder_input_output_separator="",
    )
    tokens = [t.lstrip("Ġ▁") for t in out.output_current_tokens]
    assert tokens == ["cat", "sa", "t"]
    # the contextual output starts with its first token, the merged " cat"
    assert " cat sat".startswith(out.cci_scores[0].contextual_output) and out.cci_scores[0].contextual_output


def test_eos_is_not_part_of_the_output(toy) -> None:
    # The toy model ends "Alice Bob Tom Anna. Alice Bob" with " Tom Anna.<|endoftext|>".
    out = _run(toy, input_context_text="Alice Bob Tom Anna.", input_current_text="Alice Bob")
    assert out.output_current == "Tom Anna."
    assert "<|endoftext|>" not in "".join(out.output_current_tokens)
    assert [t.strip("Ġ") for t in out.output_current_tokens] == ["Tom", "Anna", "."]
    assert out.cci_scores[0].cti_token.strip("Ġ") in ("Tom", "Anna")


def test_eos_forced_by_generation_is_dropped(models) -> None:
    model = models["gpt2"]
    gen = {"max_new_tokens": 3, "do_sample": False, "forced_eos_token_id": model.eos_token_id}
    out = _run(model, input_context_text="the dog", input_current_text="the cat", generation_kwargs=gen)
    assert model.tokenizer.eos_token not in out.output_current
    assert model.tokenizer.eos_token not in out.output_current_tokens


def test_chat_template_prompt(models) -> None:
    # A Llama-2 style chat prompt writes "<s>" itself; the tokenizer adds it again; the end of turn is "</s>".
    model = models["llama"]
    tokenizer = model.tokenizer
    tokenizer.chat_template = "{{ bos_token }}{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}"
    try:
        template = tokenizer.apply_chat_template(
            [{"role": "user", "content": "{context} {current}"}], tokenize=False, add_generation_prompt=True
        )
        contextless = tokenizer.apply_chat_template(
            [{"role": "user", "content": "{current}"}], tokenize=False, add_generation_prompt=True
        )
    finally:
        tokenizer.chat_template = None
    assert template.startswith("<s>[INST]")
    gen = {"max_new_tokens": 3, "do_sample": False, "forced_eos_token_id": model.eos_token_id}
    out = _run(
        model,
        input_context_text="the dog sat",
        input_current_text="the cat",
        input_template=template,
        contextless_input_current_text=contextless,
        generation_kwargs=gen,
    )
    assert "</s>" not in out.output_current and "[/INST]" not in out.output_current
    assert "</s>" not in out.output_current_tokens and "<s>" not in out.output_current_tokens
    assert tokenizer.convert_tokens_to_string(out.input_context_tokens).strip() == "the dog sat"
    assert len(out.cci_scores[0].input_context_scores) == len(out.input_context_tokens) >= 3


def test_contrastive_cci_on_glued_output(models) -> None:
    model = models["qwen2"]
    out = _run(
        model,
        input_context_text="the dog",
        input_current_text="the ca",
        output_current_text="t sat",
        decoder_input_output_separator="",
        attributed_fn="contrast_prob_diff",
    )
    cci = out.cci_scores[0]
    assert cci.contrast_token is not None and cci.contextless_output
    assert not cci.contextless_output.startswith("the ca")  # the output only, not the prompt
    assert all(s is not None for s in cci.input_context_scores)


def test_encoder_decoder_generation(tiny_model_path) -> None:
    model = inseq.load_model(str(tiny_model_path("marian")), "saliency")
    out = _run(
        model,
        input_context_text="the dog is here",
        input_current_text="the cat",
        generation_kwargs={"max_new_tokens": 3, "min_new_tokens": 3},
    )
    assert "</s>" not in out.output_current and "<pad>" not in out.output_current
    assert "</s>" not in out.output_current_tokens
    assert len(out.cci_scores[0].input_context_scores) == len(out.input_context_tokens)


def test_template_and_token_spans(models) -> None:
    filled = fill_template("Q: {context} | {current}", "ctx", "cur")
    assert filled.text == "Q: ctx | cur" and filled.context == (3, 6) and filled.current == (9, 12)
    with pytest.raises(ContextAttributionError, match="before"):
        fill_template("{current} {context}", "a", "b")
    model = models["llama"]
    text = TokenizedText.build(model, "the cat sat")
    assert text.tokens(text.span(4, 11)) == ["▁cat", "▁sa", "t"]  # BOS excluded, whole words
    assert text.prefix_text(3) == "the cat"
    seq = build_sequence(model, fill_template("{current}", None, "the ca"), fill_template("{current}", None, "t"), "")
    assert seq.input_text == "the" and seq.target.tokens(seq.output_current) == ["▁cat"]


def test_save_and_viz(models, tmp_path: Path) -> None:
    out = _run(
        models["gpt2"],
        input_context_text="the dog",
        input_current_text="the cat",
        output_current_text="sat on",
        save_path=str(tmp_path / "o.json"),
        viz_path=str(tmp_path / "o.html"),
    )
    assert AttributeContextOutput.load(tmp_path / "o.json") == out
    assert "Output current" in (tmp_path / "o.html").read_text()
