"""Every bad input of ``attribute_sources`` gets an error naming the value and what would be valid."""

from __future__ import annotations

import pytest

import inseq
from inseq.utils.errors import InputTooLongError, InvalidArgumentError

PAIRS = ["Mary cup", "John hat"]
KV = {"template": "Pairs: {context}. {query}", "chat_template": False}


@pytest.fixture(scope="module")
def toy():
    return inseq.load_model(str(inseq.examples.get_example_model_path("toy-gpt2-ioi")), "saliency")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"context": []}, InvalidArgumentError, "The context has no sources"),
        ({"context": "   "}, InvalidArgumentError, "context is empty"),
        ({"context": ["Mary cup", ""]}, InvalidArgumentError, r"Source 1 is empty \(''\)"),
        ({"response": ""}, InvalidArgumentError, r"response='' is empty"),
        ({"response": []}, InvalidArgumentError, r"response=\[\] is empty"),
        ({"response": 3}, InvalidArgumentError, "response must be a string, a list of token ids or None, got int"),
        ({"n_ablations": 1}, InvalidArgumentError, r"n_ablations must be an int >= 2, got 1"),
        ({"keep_prob": 0.0}, InvalidArgumentError, r"keep_prob=0.0 must be a number in \(0, 1\)"),
        ({"keep_prob": 1.5}, InvalidArgumentError, r"keep_prob=1.5 must be a number in \(0, 1\)"),
        ({"keep_prob": True}, InvalidArgumentError, r"keep_prob=True must be a number in \(0, 1\)"),
        ({"context": "a b", "source_type": "chapter"}, InvalidArgumentError, r"source_type='chapter' is not valid; use one of sentence, paragraph"),
        ({"method": "magic"}, InvalidArgumentError, r"method='magic' is not a source attribution method; use one of ablation, leave_one_out"),
        ({"template": "Pairs: {query}"}, InvalidArgumentError, r"template='Pairs: \{query\}' must be a string containing '\{context\}'"),
        ({"template": "{context} {other}"}, InvalidArgumentError, r"template='\{context\} \{other\}' can only have the fields"),
        ({"query": None}, InvalidArgumentError, r"has a '\{query\}' field: pass query= \(a string\), got None"),
        ({"context": None}, InvalidArgumentError, r"Pass context= \(a string or a list of sources\) or messages="),
        ({"seed": -1}, InvalidArgumentError, r"seed must be an int >= 0, got -1"),
        ({"batch_size": 0}, InvalidArgumentError, r"batch_size must be an int >= 1 or None, got 0"),
        ({"separator": 3}, InvalidArgumentError, r"separator=3 must be a string"),
        ({"chat_template": True}, InvalidArgumentError, r"has no chat template: pass chat_template="),
        ({"chat_template": 3}, InvalidArgumentError, r"chat_template=3 must be None, True, False or a template string"),
        ({"generation_args": [1]}, InvalidArgumentError, r"generation_args must be a dict, got list"),
        ({"method": "leave_one_out", "n_steps": 3}, InvalidArgumentError, r"method='leave_one_out' takes no options \['n_steps'\]"),
        ({"context": ["word " * 70]}, InputTooLongError, r"The prompt has \d+ tokens but the model reads at most 64 positions"),
    ],
)  # fmt: skip
def test_bad_inputs(toy, kwargs, error, match):
    call = {"context": PAIRS, "query": "John", **KV, **kwargs}
    with pytest.raises(error, match=match):
        toy.attribute_sources(**call)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"messages": []}, r"messages must be a non-empty list"),
        ({"messages": [{"role": "user"}]}, r"messages\[0\] must have a 'content' string, got None"),
        ({"messages": [{"content": "x"}]}, r"messages\[0\] must be a dict with a 'role' string"),
        ({"messages": [{"role": "user", "content": "x"}], "context": "y"}, "Pass either context= or messages=, not both"),
        ({"messages": [{"role": "user", "content": "x"}], "chat_template": False}, r"they need a chat template"),
        ({"messages": [{"role": "user", "content": "x"}]}, r"has no chat template"),
        ({"messages": [{"role": "user", "content": "x y"}], "chat_template": "{{ messages[0]['content'] | upper }}"},
         r"Source 0 \('x y'\) is not in the formatted prompt"),
    ],
)  # fmt: skip
def test_bad_chat_inputs(toy, kwargs, match):
    with pytest.raises(InvalidArgumentError, match=match):
        toy.attribute_sources(**{"response": " x", **kwargs})


def test_a_source_the_chat_template_changes_is_reported(toy):
    with pytest.raises(InvalidArgumentError, match=r"Source 0 \('Mary cup'\) is not in the formatted prompt"):
        toy.attribute_sources(PAIRS, "John", chat_template="{{ messages[0]['content'] | upper }}", method="attention")


def test_scores_for_a_range_outside_the_response(toy):
    out = toy.attribute_sources(PAIRS, "John", method="leave_one_out", **KV)
    with pytest.raises(
        InvalidArgumentError, match=r"\(start, end\)=\(0, 99\) is not a character range of the response"
    ):
        out.scores_for(0, 99)
    with pytest.raises(InvalidArgumentError, match=r"top_k must be a positive integer or None, got 0"):
        out.to_dataframe(top_k=0)
    with pytest.raises(ValueError, match="Unknown source attribution metric 'comprehensiveness'"):
        out.evaluate(["comprehensiveness"])
    with pytest.raises(InvalidArgumentError, match=r"ks=\[0\] must be a non-empty list of positive integers"):
        out.evaluate(ks=[0])


def test_source_metrics_are_refused_by_token_evaluation(toy):
    out = toy.attribute("Pairs: Mary cup. Mary", show_progress=False, generation_args={"max_new_tokens": 2})
    with pytest.raises(ValueError, match="'lds' is a metric of source attributions"):
        toy.evaluate(out, ["lds"])


def test_loading_a_file_that_is_not_a_source_attribution(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"format": "other"}')
    with pytest.raises(InvalidArgumentError, match="is not a saved source attribution"):
        inseq.load_source_attributions(path)
    path.write_text("{not json")
    with pytest.raises(InvalidArgumentError, match="is not JSON"):
        inseq.load_source_attributions(path)
    with pytest.raises(InvalidArgumentError, match="Cannot read the source attribution file"):
        inseq.load_source_attributions(tmp_path / "missing.json")
