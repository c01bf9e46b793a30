"""Non-finite attributions are reported with a warning naming the positions, never silently."""

import warnings

import pytest
import torch

import inseq


@pytest.fixture(scope="module")
def model(tiny_model_path):
    return inseq.load_model(str(tiny_model_path("gpt2")), "saliency")


def test_clean_attribution_does_not_warn(model):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        out = model.attribute(["the cat is"], ["the cat is on the mat"], show_progress=False)
    assert torch.isfinite(out[0].target_attributions[:3, 0]).all()


def test_undefined_attributed_function_warns_with_positions(model):
    def log_zero(args):
        return torch.log(args.logits[:, 0] * 0)

    with pytest.warns(UserWarning, match=r"non-finite values in target attributions at positions \[\d"):
        model.attribute(["the cat is"], ["the cat is on the mat"], attributed_fn=log_zero, show_progress=False)
