"""Hand-made attribution outputs shared by the data tests (no model needed)."""

from __future__ import annotations

import pytest
import torch

from inseq.data.attribution import (
    CoarseFeatureAttributionSequenceOutput,
    FeatureAttributionOutput,
    FeatureAttributionSequenceOutput,
    GranularFeatureAttributionSequenceOutput,
    MultiDimensionalFeatureAttributionSequenceOutput,
)
from inseq.utils.typing import TokenWithId

NAN = float("nan")


def toks(*strings: str) -> list[TokenWithId]:
    return [TokenWithId(s, i) for i, s in enumerate(strings)]


def causal_nan(tensor: torch.Tensor, attr_pos_start: int) -> torch.Tensor:
    """Set target rows at or after each generated position to NaN."""
    tensor = tensor.clone()
    for step in range(tensor.shape[1]):
        tensor[attr_pos_start + step :, step] = NAN
    return tensor


def make_encdec(cls=GranularFeatureAttributionSequenceOutput, extra=(2,), seed=0) -> FeatureAttributionSequenceOutput:
    """Source ▁Hel lo ▁world </s>; target <pad> ▁Cia o ▁mondo; 3 attributed steps (positions 1..3)."""
    gen = torch.Generator().manual_seed(seed)
    src = toks("▁Hel", "lo", "▁world", "</s>")
    tgt = toks("<pad>", "▁Cia", "o", "▁mondo")
    kwargs = {}
    if cls is MultiDimensionalFeatureAttributionSequenceOutput:
        kwargs["_num_dimensions"] = len(extra)
    return cls(
        source=src,
        target=tgt,
        source_attributions=torch.rand(4, 3, *extra, generator=gen),
        target_attributions=causal_nan(torch.rand(4, 3, *extra, generator=gen), 1),
        step_scores={"probability": torch.tensor([0.5, 0.4, 0.9]), "entropy": torch.tensor([1.0, 2.0, 3.0])},
        attr_pos_start=1,
        attr_pos_end=4,
        **kwargs,
    )


def make_decoder_only(cls=CoarseFeatureAttributionSequenceOutput) -> FeatureAttributionSequenceOutput:
    """GPT-2 style: prompt 'Hello world' (3 tokens), generated 'Ġis Ġnice ly' (positions 3..5)."""
    target = toks("Hel", "lo", "Ġworld", "Ġis", "Ġni", "ce")
    scores = torch.arange(1, 19, dtype=torch.float32).reshape(6, 3) / 10
    return cls(
        source=target[:3],
        target=target,
        target_attributions=causal_nan(scores, 3),
        step_scores={"probability": torch.tensor([0.5, 0.5, 0.8])},
        attr_pos_start=3,
        attr_pos_end=6,
    )


@pytest.fixture
def encdec() -> FeatureAttributionSequenceOutput:
    return make_encdec()


@pytest.fixture
def decoder_only() -> FeatureAttributionSequenceOutput:
    return make_decoder_only()


@pytest.fixture
def output() -> FeatureAttributionOutput:
    return FeatureAttributionOutput(
        sequence_attributions=[make_encdec(seed=0), make_encdec(seed=1)],
        info={"model_name": "toy", "attribution_method": "saliency", "input_texts": ["a", "b"], "attr_pos_end": 4},
    )
