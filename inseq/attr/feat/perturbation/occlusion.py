"""Occlusion on the perturbed-forward kernel: one forward per occluded window serves all target positions.

Occluded copies of the batch travel in the same forward (:mod:`inseq.attr.feat.perturbation.kernel`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ....utils.budgets import announce_forwards
from ....utils.checks import check_spans, span_windows
from ....utils.errors import InvalidArgumentError
from ...engine import AttributionContext, attributed_fn_values
from ..base import FeatureAttribution, MethodResult
from .kernel import PerturbationOptions, Perturbed, PerturbedForward


def _windows(length: int, width: int, stride: int) -> list[int]:
    """Start indices of the windows of ``width`` tokens, ``stride`` apart, fitting in ``length`` tokens."""
    if length < width:
        return []
    return list(range(0, length - width + 1, stride))


def _token_window(shape: Any, hidden: int, name: str) -> int:
    """Token width of a Captum-style ``(tokens, hidden)`` window, checking it spans the whole embedding."""
    if isinstance(shape, int):
        return shape
    shape = tuple(shape)
    if len(shape) != 2 or shape[1] != hidden or shape[0] < 1:
        raise ValueError(
            f"{name} must be (n_tokens, {hidden}) (whole embeddings of n_tokens >= 1 tokens) or an int, got {shape}."
        )
    return int(shape[0])


def _token_stride(stride: Any, name: str) -> int:
    if stride is None:
        return 1
    if isinstance(stride, int):
        value = stride
    else:
        value = tuple(stride)[0]
    if int(value) < 1:
        raise ValueError(f"{name} must be a positive integer (token stride), got {stride!r}.")
    return int(value)


class PerturbationAttribution(FeatureAttribution):
    """Family base of the methods perturbing their inputs ; not a method itself."""


class OcclusionAttribution(PerturbationAttribution):
    """Occlusion (Zeiler and Fergus, 2014): ``|f(x) - f(x with a token window set to its baseline)|``.

    Matches inseq 0.7 (Captum ``Occlusion`` with ``sliding_window_shapes=(1, embedding_dim)``, UNK-embedding
    baselines, absolute values): each token gets the absolute change of the attributed function when it is replaced
    by the baseline embedding. With wider windows each token gets the mean change over the windows covering it, and
    target position ``p`` only uses windows lying entirely in its prefix (as Captum run on that prefix would).

    Example:
        >>> import inseq
        >>> model = inseq.load_model("gpt2", "occlusion")  # doctest: +SKIP
        >>> out = model.attribute("Hello world", "Hello world, how are you?", show_progress=False)  # doctest: +SKIP
        >>> out[0].target_attributions.shape  # doctest: +SKIP
        torch.Size([8, 6])
    """

    method_name = "occlusion"
    output_kind = "coarse"
    use_baselines = True

    def compute(
        self,
        ctx: AttributionContext,
        *,
        sliding_window_shapes: Any = None,
        strides: Any = None,
        perturbations_per_eval: int | None = None,
        show_progress: bool = False,
        max_chunk_size: int | None = None,
        spans: Any = None,
    ) -> MethodResult:
        """Occlude every token window of the source and of the target prefix.

        Args:
            ctx: The engine context.
            sliding_window_shapes: ``(n_tokens, embedding_dim)`` window (or a pair of them: source, target), or an
                int number of tokens. Default: one token.
            strides: Token stride between windows (int, Captum-style tuple, or a pair for source and target).
            perturbations_per_eval: Occluded copies of the batch run in one forward (default: as many as fit a
                fixed memory budget).
            show_progress: Accepted for compatibility (the engine shows progress).
            max_chunk_size: Accepted for compatibility (all positions are scored by each forward).
            spans: ``(start, end)`` token ranges (end exclusive, indices as in the attribution's rows) of the
                attributed input: the source of an encoder-decoder, the target (prompt included) of a decoder-only
                model. One list for the whole batch. Each span is occluded as one window and all its tokens get
                its score; tokens outside every span are occluded one at a time, as without spans. Spans must not
                overlap and must fit every example; ``sliding_window_shapes`` and ``strides`` of that input must
                then be left unset. Use it to perturb a long prompt by sentences: fewer forwards.
        """
        forward = PerturbedForward(ctx, PerturbationOptions(perturbations_per_eval))
        batch = ctx.batch
        src, tgt = ctx.input_embeds()
        src_base, tgt_base = ctx.baseline_embeds()
        hidden = tgt.shape[-1]
        n_inputs = 2 if src is not None else 1
        windows = _per_input(sliding_window_shapes, n_inputs, "sliding_window_shapes")
        stride_args = _per_input(strides, n_inputs, "strides")
        widths = [1 if w is None else _token_window(w, hidden, "sliding_window_shapes") for w in windows]
        steps = [_token_stride(s, "strides") for s in stride_args]
        spanned = src is not None or ctx.wants_target  # the input the spans index: the source, else the target
        if spans is not None:
            if windows[0] is not None or stride_args[0] is not None:
                raise InvalidArgumentError(
                    "spans replaces the sliding windows of the attributed input: leave sliding_window_shapes and "
                    f"strides unset with it, got sliding_window_shapes={sliding_window_shapes!r}, strides={strides!r}."
                )
            if not spanned:
                raise InvalidArgumentError("spans needs target attributions on a decoder-only model.")
        windows_src, windows_tgt = [], []
        if src is not None:
            if spans is not None:
                windows_src = span_windows(check_spans(spans, min(batch.source_lengths)), src.shape[1])
            else:
                windows_src = [(s, s + widths[0]) for s in _windows(src.shape[1], widths[0], steps[0])]
        if ctx.wants_target:
            upto = min(tgt.shape[1], int(ctx.positions[-1]))
            if spans is not None and src is None:
                windows_tgt = span_windows(check_spans(spans, min(batch.target_lengths)), upto)
            else:
                windows_tgt = [(s, s + widths[-1]) for s in _windows(upto, widths[-1], steps[-1])]
        longest = max(src.shape[1] if src is not None else 0, tgt.shape[1])
        announce_forwards(
            "occlusion",
            (len(windows_src) + len(windows_tgt)) * batch.size,
            longest,
            hint="Occlude sentences instead of tokens with spans=[(start, end), ...] in the attribution args. ",
        )
        clean = attributed_fn_values(ctx)
        result = MethodResult()
        if src is not None:
            lengths = torch.tensor(batch.source_lengths)
            result.source = _occlude(forward, src, src_base, windows_src, clean, lengths, other=tgt)
        if ctx.wants_target:
            lengths = torch.tensor(batch.target_lengths)
            result.target = _occlude(forward, tgt, tgt_base, windows_tgt, clean, lengths)
        if ctx.progress is not None:
            ctx.progress(ctx.n_positions)
        return result


def _occlude(
    forward: PerturbedForward,
    embeds: torch.Tensor,
    base: torch.Tensor,
    windows: list[tuple[int, int]],
    clean: torch.Tensor,
    lengths: torch.Tensor,
    other: torch.Tensor | None = None,
) -> torch.Tensor:
    """``(batch, n_positions, len)`` mean absolute change over the windows covering each token.

    ``embeds`` are the source embeddings when ``other`` (the target embeddings) is given, else the target ones.
    """
    ctx = forward.ctx
    n = embeds.shape[0]

    def build(first: int, last: int) -> Perturbed:
        k = last - first
        occluded = embeds.repeat(k, 1, 1)
        for c, (s, e) in enumerate(windows[first:last]):
            occluded[c * n : (c + 1) * n, s:e] = base[:, s:e]
        if other is None:
            return Perturbed(k, target_embeds=occluded)
        return Perturbed(k, target_embeds=other.repeat(k, 1, 1), source_embeds=occluded)

    diffs = (clean.unsqueeze(0) - forward.map(len(windows), build)).abs().nan_to_num()
    total = torch.zeros(n, ctx.n_positions, embeds.shape[1])
    count = torch.zeros(n, ctx.n_positions, embeds.shape[1])
    positions = ctx.positions.view(1, -1)
    for c, (s, e) in enumerate(windows):
        # a window counts for example b if it fits its sequence, and for position p if it lies in p's prefix
        valid = (e <= lengths).view(n, 1).expand(n, ctx.n_positions)
        if other is None:
            valid = valid & (e <= positions)
        weight = valid.float().unsqueeze(-1)
        total[:, :, s:e] += diffs[c].unsqueeze(-1) * weight
        count[:, :, s:e] += weight
    return total / count


def _per_input(value: Any, n_inputs: int, name: str) -> list[Any]:
    """Split a Captum-style per-input argument into one value per input (source, target)."""
    if value is None or isinstance(value, int):
        return [value] * n_inputs
    value = tuple(value)
    if value and all(isinstance(v, Sequence) and not isinstance(v, str) for v in value):
        if len(value) == n_inputs:
            return list(value)
        if len(value) == 1:
            return [value[0]] * n_inputs
        raise ValueError(f"{name} has {len(value)} entries but the method has {n_inputs} inputs (source, target).")
    return [value] * n_inputs
