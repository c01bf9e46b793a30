"""From attribution outputs to per-step views: which input tokens a step may perturb and their scores."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from .metrics import StepView
from .perturbations import SequenceInputs

if TYPE_CHECKING:
    from ..data.attribution import FeatureAttributionSequenceOutput
    from ..models.attribution_model import AttributionModel


def token_scores(seq: FeatureAttributionSequenceOutput) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """``(source, target)`` 2-D token scores: the default aggregation, then a mean over any remaining dimension."""
    agg = seq if seq.attributions_ndim <= 2 else seq.aggregate()
    out = []
    for tensor in (agg.source_attributions, agg.target_attributions):
        if tensor is not None:
            while tensor.ndim > 2:
                tensor = tensor.mean(-1)
        out.append(tensor)
    return out[0], out[1]


def sequence_inputs(model: AttributionModel, seq: FeatureAttributionSequenceOutput, index: int) -> SequenceInputs:
    """Token ids of a sequence output, as the model reads them (ValueError for merged tokens, which have no id)."""
    example = model.example_of(seq)
    target, source = example.target_ids, example.source_ids
    if any(i < 0 for i in target + (source or [])):
        raise ValueError(
            f"Sequence {index} has merged tokens (id -1, e.g. after aggregate('spans')): evaluate the output before "
            "merging tokens, since perturbations act on the model's own tokens."
        )
    return SequenceInputs(target, source)


def step_views(
    model: AttributionModel,
    seq: FeatureAttributionSequenceOutput,
    index: int,
    absolute: bool = False,
    include_special_tokens: bool = False,
) -> list[StepView]:
    """One :class:`StepView` per attributed step of ``seq`` (sequence number ``index``)."""
    src, tgt = token_scores(seq)
    special = set() if include_special_tokens else set(model.special_tokens_ids)
    content = tuple(t.id for t in seq.source) + (-2,) + tuple(t.id for t in seq.target)
    views = []
    for step in range(seq.num_steps):
        position = seq.attr_pos_start + step
        feats, scores = [], []
        candidates = []
        if src is not None:  # decoder-only outputs carry no source scores: their prompt is in the target
            candidates += [("source", i, seq.source[i].id, src[i, step]) for i in range(src.shape[0])]
        if tgt is not None:
            rows = min(position, tgt.shape[0])
            candidates += [("target", i, seq.target[i].id, tgt[i, step]) for i in range(rows)]
        for side, i, token_id, value in candidates:
            if token_id in special or not torch.isfinite(value):
                continue
            feats.append((side, i))
            scores.append(float(value))
        values = torch.tensor(scores, dtype=torch.float64)
        views.append(StepView(index, step, position, feats, values.abs() if absolute else values, content))
    return views
