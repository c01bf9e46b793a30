"""Conversations as inputs of ``attribute()``: formatted with the tokenizer's chat template, a clear error without."""

from __future__ import annotations

import pytest

import inseq
from inseq.utils.errors import InvalidArgumentError

TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}[assistant]{% endif %}"
)
CONVERSATION = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "a b c"}]


@pytest.fixture()
def llama(tiny_model_path):
    model = inseq.load_model(str(tiny_model_path("llama")), "saliency")
    yield model
    model.tokenizer.chat_template = None


def test_a_conversation_without_chat_template_is_refused(llama):
    with pytest.raises(InvalidArgumentError, match="has no chat template, so a conversation cannot be formatted"):
        llama.attribute(CONVERSATION, show_progress=False)


def test_conversations_are_formatted_once_with_one_bos(llama):
    llama.tokenizer.chat_template = TEMPLATE
    prompt = llama.format_chat(CONVERSATION)
    out = llama.attribute(CONVERSATION, " x y", show_progress=False)
    ids = [t.id for t in out[0].target]
    assert ids.count(llama.bos_token_id) == 1
    assert out.info["input_texts"] == [prompt]
    reference = llama.attribute(prompt, prompt + " x y", show_progress=False)
    assert [t.id for t in reference[0].target] == ids
    assert (out[0].target_attributions.nan_to_num() == reference[0].target_attributions.nan_to_num()).all()


def test_several_conversations_in_a_batch(llama):
    llama.tokenizer.chat_template = TEMPLATE
    second = [{"role": "user", "content": "d e"}]
    out = llama.attribute([CONVERSATION, second], generation_args={"max_new_tokens": 2}, show_progress=False)
    assert len(out) == 2 and out.info["input_texts"][1] == llama.format_chat(second)


def test_a_malformed_message_is_named(llama):
    llama.tokenizer.chat_template = TEMPLATE
    with pytest.raises(
        InvalidArgumentError, match=r"Message 1 of the conversation must be a dict with 'role' and 'content'"
    ):
        llama.attribute([{"role": "user", "content": "a"}, {"role": "user", "content": 3}], show_progress=False)
