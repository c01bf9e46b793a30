"""One forward path: the façade owns the pipeline, the engine calls back into the model through a few port members,
and every forward of attribution, step scores, contrast and evaluation goes through ``Scorer.forward``."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

import inseq
from inseq.attr.scorer import Scorer

ROOT = Path(inseq.__file__).resolve().parent
ATTR, MODELS = str(ROOT / "attr"), str(ROOT / "models")
MAX_CALLBACKS = 5
METHODS = [
    "saliency",
    "input_x_gradient",
    "integrated_gradients",
    "deeplift",
    "layer_integrated_gradients",
    "occlusion",
    "lime",
    "attention",
    "value_zeroing",
    "attnlrp",
    "cp_lrp",
]


def _callbacks(model, **kwargs) -> Counter:
    """Calls made from code in ``inseq/attr`` to functions defined in ``inseq/models`` during ``attribute()``."""
    calls: Counter = Counter()

    def profile(frame, event, arg):
        if event == "call" and frame.f_back is not None:
            if frame.f_code.co_filename.startswith(MODELS) and frame.f_back.f_code.co_filename.startswith(ATTR):
                calls[frame.f_code.co_qualname] += 1

    sys.setprofile(profile)
    try:
        model.attribute(show_progress=False, **kwargs)
    finally:
        sys.setprofile(None)
    return calls


@pytest.fixture(scope="module")
def load(tiny_model_path):
    cache = {}

    def get(arch, method):
        if (arch, method) not in cache:
            cache[(arch, method)] = inseq.load_model(str(tiny_model_path(arch)), method)
        return cache[(arch, method)]

    return get


@pytest.mark.parametrize("arch", ["gpt2", "bart"])
@pytest.mark.parametrize("method", METHODS)
def test_the_engine_calls_back_into_the_model_through_at_most_five_members(load, arch, method):
    inputs = ["a b c", "d e"]
    calls = _callbacks(load(arch, method), input_texts=inputs, generation_args={"max_new_tokens": 3}, batch_size=1)
    assert calls, "the trace saw no call into inseq/models: the test would pass vacuously"
    assert len(calls) <= MAX_CALLBACKS, f"{method} on {arch} calls back {len(calls)} members: {sorted(calls)}"
    assert not {"prepare_examples", "build_batch", "contrast_examples"} & {name.split(".")[-1] for name in calls}


def test_contrast_and_step_scores_add_no_callback(load):
    model = load("gpt2", "saliency")
    calls = _callbacks(
        model,
        input_texts=["a b c"],
        generated_texts=["a b c d e"],
        attributed_fn="contrast_prob_diff",
        contrast_targets=["a b c d f"],
        step_scores=["probability", "entropy"],
    )
    assert len(calls) <= MAX_CALLBACKS, sorted(calls)


def test_every_forward_goes_through_the_scorer(load, monkeypatch):
    """Attribution, step scores, contrast and evaluate() all reach ``Scorer.forward``, and nothing else calls the
    model's forward."""
    model = load("gpt2", "saliency")
    reached, callers = Counter(), Counter()
    original_forward, original_logits = Scorer.forward, type(model).forward_logits
    feature = {"name": None}

    def forward(self, **kwargs):
        reached[feature["name"]] += 1
        return original_forward(self, **kwargs)

    def forward_logits(self, *args, **kwargs):
        callers[sys._getframe(1).f_code.co_qualname] += 1
        return original_logits(self, *args, **kwargs)

    monkeypatch.setattr(Scorer, "forward", forward)
    monkeypatch.setattr(type(model), "forward_logits", forward_logits)
    runs = {
        "attribution": lambda: model.attribute("a b c", "a b c d e", show_progress=False),
        "step scores": lambda: model.attribute(
            "a b c", "a b c d e", method="dummy", step_scores=["probability"], show_progress=False
        ),
        "contrast": lambda: model.attribute(
            "a b c",
            "a b c d e",
            method="dummy",
            step_scores=["contrast_prob_diff"],
            contrast_targets="a b c d f",
            show_progress=False,
        ),
    }
    outputs = {}
    for name, run in runs.items():
        feature["name"] = name
        outputs[name] = run()
    feature["name"] = "evaluate"
    model.evaluate(outputs["attribution"], metrics=["comprehensiveness"])
    assert {"attribution", "step scores", "contrast", "evaluate"} <= {k for k, v in reached.items() if v}
    assert set(callers) == {"Scorer.forward"}, f"forward_logits called from {sorted(callers)}"


def test_no_architecture_branch_in_the_engine_methods_or_evaluation():
    offenders = []
    for package in ("attr", "evaluate"):
        for path in (ROOT / package).rglob("*.py"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if "is_encoder_decoder" in line:
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
