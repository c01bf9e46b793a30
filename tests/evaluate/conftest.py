"""Fixtures shared by the evaluation tests: the tiny random GPT-2 and Marian wrapped for saliency."""

from __future__ import annotations

import pytest

import inseq


@pytest.fixture(scope="module")
def gpt2(tiny_gpt2_path) -> inseq.AttributionModel:
    return inseq.load_model(str(tiny_gpt2_path), "saliency")


@pytest.fixture(scope="module")
def marian(tiny_marian_path) -> inseq.AttributionModel:
    return inseq.load_model(str(tiny_marian_path), "saliency")
