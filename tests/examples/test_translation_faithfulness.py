"""Faithfulness of gradient attributions on the toy translation model (issue #7).

Every target word of the toy Vesk -> Tolu translation task translates exactly one known source word, so the
top-scoring source word of a faithful attribution method is that gold word. The alignment error (1 - top-1 agreement,
measured with the inseq engine by :func:`inseq.faithfulness.translation_agreement` on 50 held-in sentences) must stay
at most 0.2 for the gradient methods.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

import inseq
from inseq.examples import get_example_model_path
from inseq.faithfulness import translation_agreement

MAX_ALIGNMENT_ERROR = 0.2
SIZE = 50


@pytest.fixture(scope="module")
def marian():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield inseq.load_model(str(get_example_model_path("toy-marian-translation")), "saliency")
    torch.set_num_threads(threads)


@pytest.mark.parametrize("method", ["saliency", "input_x_gradient", "integrated_gradients"])
def test_translation_alignment_error(marian, method):
    result = translation_agreement(method, size=SIZE, model=marian)
    assert result.n >= 6 * SIZE  # every target word of every sentence was scored
    alignment_error = 1 - result.top1
    assert alignment_error <= MAX_ALIGNMENT_ERROR, f"{method}: alignment error {alignment_error:.2f}"
