"""Prompts with special tokens (chat templates) and forced targets checked at token level."""

import pytest

import inseq


@pytest.fixture(scope="module")
def llama(tiny_model_path):
    return inseq.load_model(str(tiny_model_path("llama")), "saliency")


def test_prompt_starting_with_bos_is_not_duplicated(llama):
    bos = llama.tokenizer.bos_token
    prompt = f"{bos}the cat is"
    out = llama.attribute(prompt, prompt + " on the mat", show_progress=False)
    ids = [t.id for t in out[0].target]
    assert ids[0] == llama.bos_token_id and ids[1] != llama.bos_token_id
    assert out[0].attr_pos_start == len(llama.encode(prompt).input_ids[0])


def test_special_tokens_inside_the_prompt_are_kept(llama):
    eos = llama.tokenizer.eos_token
    prompt = f"the cat{eos} is"
    out = llama.attribute(prompt, prompt + " here", show_progress=False)
    assert llama.eos_token_id in [t.id for t in out[0].source]


def test_target_not_continuing_prompt_names_the_tokens(llama):
    with pytest.raises(ValueError, match="does not continue input_texts\\[0\\] at token level"):
        llama.attribute("the cat is", "a dog is here", show_progress=False)


def test_skip_special_tokens_encodes_without_bos(llama):
    out = llama.attribute("the cat is", "the cat is here", skip_special_tokens=True, show_progress=False)
    assert out[0].target[0].id != llama.bos_token_id
