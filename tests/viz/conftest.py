"""Fixtures of the view tests: a shared toy-model output (hand-made outputs are in ``viz_samples``)."""

from __future__ import annotations

import pytest

from inseq.data.attribution import FeatureAttributionOutput


@pytest.fixture(scope="session")
def toy_output() -> FeatureAttributionOutput:
    """Saliency attributions of the toy IOI GPT-2 (3 generated tokens, probability step score)."""
    import inseq

    model = inseq.load_model(str(inseq.examples.get_example_model_path("toy-gpt2-ioi")), "saliency")
    return model.attribute(
        "When Mary and John went to the store, John gave a drink to",
        generation_args={"max_new_tokens": 3},
        step_scores=["probability"],
        show_progress=False,
    )
