"""PECoRe on the toy model: the copied words depend on the context by construction, the period does not."""

import pytest

import inseq
from inseq.examples import get_example_model_path


@pytest.fixture(scope="module")
def toy_gpt2():
    return inseq.load_model(str(get_example_model_path("toy-gpt2-ioi")))


def test_cti_selects_the_context_dependent_token(toy_gpt2):
    # Without the context "Alice Bob Tom Anna." nothing tells the model to continue "Alice Bob" with "Tom Anna".
    out = inseq.attribute_context(
        model_name_or_path=toy_gpt2,
        input_context_text="Alice Bob Tom Anna.",
        input_current_text="Alice Bob",
        output_current_text="Tom Anna.",
        attribution_method="saliency",
        handle_output_context_strategy="pre",
        context_sensitivity_std_threshold=0.0,
        context_sensitivity_topk=1,
        show_viz=False,
    )
    tokens = [t.strip("Ġ ") for t in out.output_current_tokens]
    scores = dict(zip(tokens, out.cti_scores))
    assert scores["Tom"] > scores["."] and scores["Anna"] > scores["."]
    assert len(out.cci_scores) == 1
    selected = out.cci_scores[0]
    assert selected.cti_token.strip("Ġ ") == "Tom"
    # CCI: the copied word's cue is its earlier occurrence in the context
    context = [t.strip("Ġ ") for t in out.input_context_tokens]
    best = max(range(len(context)), key=lambda i: selected.input_context_scores[i])
    assert context[best] == "Tom"
