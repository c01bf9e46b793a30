"""Turn the engine's position-grid results into per-sequence (and optional per-step) output objects."""

from __future__ import annotations

import warnings

import torch

from ..data.attribution import (
    CoarseFeatureAttributionSequenceOutput,
    CoarseFeatureAttributionStepOutput,
    FeatureAttributionOutput,
    FeatureAttributionSequenceOutput,
    FeatureAttributionStepOutput,
    GranularFeatureAttributionSequenceOutput,
    GranularFeatureAttributionStepOutput,
    MultiDimensionalFeatureAttributionSequenceOutput,
    MultiDimensionalFeatureAttributionStepOutput,
)
from ..utils.typing import TokenWithId
from .engine import AttributionContext
from .feat.base import FeatureAttribution, MethodResult

_CLASSES = {
    "granular": (GranularFeatureAttributionSequenceOutput, GranularFeatureAttributionStepOutput),
    "coarse": (CoarseFeatureAttributionSequenceOutput, CoarseFeatureAttributionStepOutput),
    "multidim": (MultiDimensionalFeatureAttributionSequenceOutput, MultiDimensionalFeatureAttributionStepOutput),
    "plain": (FeatureAttributionSequenceOutput, FeatureAttributionStepOutput),
}


def _columns(grid: torch.Tensor, b: int, cols: slice, rows: int) -> torch.Tensor:
    """``(rows, n_cols, *extra)`` slice of a ``(batch, n_positions, len, *extra)`` grid for example ``b``."""
    return grid[b, cols, :rows].transpose(0, 1).contiguous()


def _mask_future(target: torch.Tensor, start: int) -> torch.Tensor:
    """NaN in row ``r`` of column ``j`` when ``r >= start + j`` (the token is not in that position's prefix)."""
    rows, cols = target.shape[:2]
    future = torch.arange(rows).unsqueeze(1) >= (start + torch.arange(cols)).unsqueeze(0)
    return target.masked_fill(future.view(rows, cols, *([1] * (target.ndim - 2))), float("nan"))


def build_output(
    method: FeatureAttribution,
    ctx: AttributionContext,
    result: MethodResult,
    step_scores: dict[str, torch.Tensor],
    output_step_attributions: bool,
    labels: list[dict[int, TokenWithId]] | None = None,
) -> FeatureAttributionOutput:
    """Build a :class:`FeatureAttributionOutput` (without ``info``) for one batch."""
    seq_cls, step_cls = _CLASSES[method.output_kind]
    batch = ctx.batch
    scores = {**result.step_scores, **step_scores}
    sequences = []
    for b in range(batch.size):
        start, end = batch.attr_start[b], batch.attr_end[b]
        cols = slice(start - ctx.grid_start, end - ctx.grid_start)
        target_tokens = list(batch.target_tokens[b][:end])
        for pos, label in (labels[b] if labels else {}).items():
            if pos < len(target_tokens):
                target_tokens[pos] = label
        source_tokens = batch.output_source_tokens(b)
        src = _columns(result.source, b, cols, len(source_tokens)) if result.source is not None else None
        tgt = _mask_future(_columns(result.target, b, cols, end), start) if result.target is not None else None
        _warn_non_finite(b, start, src, tgt, {name: values[b, cols] for name, values in scores.items()})
        extra = {"_num_dimensions": method.num_extra_dims} if method.output_kind == "multidim" else {}
        sequences.append(
            seq_cls(
                source=source_tokens,
                target=target_tokens,
                source_attributions=src,
                target_attributions=tgt,
                step_scores={name: values[b, cols].clone() for name, values in scores.items()},
                sequence_scores={k: v[b] for k, v in result.sequence_scores.items()} or None,
                attr_pos_start=start,
                attr_pos_end=end,
                **extra,
            )
        )
    steps = _step_outputs(step_cls, ctx, sequences, method) if output_step_attributions else None
    return FeatureAttributionOutput(sequence_attributions=sequences, step_attributions=steps, info={})


def _warn_non_finite(index: int, start: int, src, tgt, scores: dict[str, torch.Tensor]) -> None:
    """Warn (instead of failing silently) when a model produced NaN or infinite scores where values are expected."""
    problems = []
    if src is not None and not torch.isfinite(src).all():
        cols = (~torch.isfinite(src)).reshape(*src.shape[:2], -1).any(-1).any(0).nonzero().flatten() + start
        problems.append(f"source attributions at positions {cols.tolist()}")
    if tgt is not None:
        rows = torch.arange(tgt.shape[0]).unsqueeze(1) < (start + torch.arange(tgt.shape[1])).unsqueeze(0)
        bad = ~torch.isfinite(tgt.reshape(*tgt.shape[:2], -1)).all(-1) & rows
        if bad.any():
            problems.append(f"target attributions at positions {(bad.any(0).nonzero().flatten() + start).tolist()}")
    for name, values in scores.items():
        if not torch.isfinite(values).all():
            problems.append(
                f"step score {name!r} at positions {((~torch.isfinite(values)).nonzero().flatten() + start).tolist()}"
            )
    if problems:
        warnings.warn(
            f"Sequence {index}: non-finite values in {'; '.join(problems)}. The model may overflow in this precision "
            "(try float32) or the attributed function may be undefined there (e.g. log of zero).",
            stacklevel=4,
        )


def _pad_stack(tensors: list[torch.Tensor | None]) -> torch.Tensor | None:
    """Stack 1-or-more-D tensors along a new batch dim, NaN-padding the first dim; None if all are None."""
    present = [t for t in tensors if t is not None]
    if not present:
        return None
    length = max(t.shape[0] for t in present)
    out = torch.full((len(tensors), length, *present[0].shape[1:]), float("nan"))
    for i, t in enumerate(tensors):
        if t is not None:
            out[i, : t.shape[0]] = t
    return out


def _step_outputs(step_cls, ctx: AttributionContext, sequences, method) -> list[FeatureAttributionStepOutput]:
    """One step output per grid position, with NaN for examples that do not attribute that position."""
    steps = []
    for p in ctx.positions.tolist():
        src, tgt, scores, sources, prefixes, targets = [], [], {}, [], [], []
        for seq in sequences:
            j = p - seq.attr_pos_start
            inside = 0 <= j < seq.attr_pos_end - seq.attr_pos_start
            src.append(seq.source_attributions[:, j] if inside and seq.source_attributions is not None else None)
            tgt.append(seq.target_attributions[:p, j] if inside and seq.target_attributions is not None else None)
            for name, values in seq.step_scores.items():
                scores.setdefault(name, []).append(values[j] if inside else torch.tensor(float("nan")))
            sources.append(seq.source)
            prefixes.append(seq.target[:p])
            targets.append(seq.target[p : p + 1])
        extra = {"_num_dimensions": method.num_extra_dims} if method.output_kind == "multidim" else {}
        steps.append(
            step_cls(
                source_attributions=_pad_stack(src),
                step_scores={k: torch.stack(v) for k, v in scores.items()},
                target_attributions=_pad_stack(tgt),
                source=sources,
                prefix=prefixes,
                target=targets,
                **extra,
            )
        )
    return steps
