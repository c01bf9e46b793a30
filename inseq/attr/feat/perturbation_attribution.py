"""Perturbation-based attribution methods: ``occlusion`` and ``lime``, on the perturbed-forward kernel.

``occlusion`` replaces windows of input tokens with their baseline (UNK) embeddings and measures how much the
attributed function changes. With a causal decoder one forward over the whole sequence gives the perturbed value at
every target position at once, so each occluded window costs one forward shared by all positions, and several
occluded copies of the batch travel in the same forward (:mod:`inseq.attr.feat.perturbed_forward`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..engine import AttributionContext, attributed_fn_values
from .feature_attribution import FeatureAttribution, MethodResult
from .ops.lime import lime_masks, lime_surrogate
from .perturbed_forward import PerturbationOptions, Perturbed, PerturbedForward


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


class PerturbationAttributionRegistry(FeatureAttribution):
    """Family base of the methods perturbing their inputs (inseq 0.7 name); not a method itself."""


class OcclusionAttribution(PerturbationAttributionRegistry):
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
        clean = attributed_fn_values(ctx)
        result = MethodResult()
        if src is not None:
            lengths = torch.tensor(batch.source_lengths)
            windows_src = _windows(src.shape[1], widths[0], steps[0])
            result.source = _occlude(forward, src, src_base, widths[0], windows_src, clean, lengths, other=tgt)
        if ctx.wants_target:
            lengths = torch.tensor(batch.target_lengths)
            windows_tgt = _windows(min(tgt.shape[1], int(ctx.positions[-1])), widths[-1], steps[-1])
            result.target = _occlude(forward, tgt, tgt_base, widths[-1], windows_tgt, clean, lengths)
        if ctx.progress is not None:
            ctx.progress(ctx.n_positions)
        return result


def _occlude(
    forward: PerturbedForward,
    embeds: torch.Tensor,
    base: torch.Tensor,
    width: int,
    starts: list[int],
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
        for c, s in enumerate(starts[first:last]):
            occluded[c * n : (c + 1) * n, s : s + width] = base[:, s : s + width]
        if other is None:
            return Perturbed(k, target_embeds=occluded)
        return Perturbed(k, target_embeds=other.repeat(k, 1, 1), source_embeds=occluded)

    diffs = (clean.unsqueeze(0) - forward.map(len(starts), build)).abs().nan_to_num()
    total = torch.zeros(n, ctx.n_positions, embeds.shape[1])
    count = torch.zeros(n, ctx.n_positions, embeds.shape[1])
    positions = ctx.positions.view(1, -1)
    for c, s in enumerate(starts):
        # a window counts for example b if it fits its sequence, and for position p if it lies in p's prefix
        valid = (s + width <= lengths).view(n, 1).expand(n, ctx.n_positions)
        if other is None:
            valid = valid & (s + width <= positions)
        weight = valid.float().unsqueeze(-1)
        total[:, :, s : s + width] += diffs[c].unsqueeze(-1) * weight
        count[:, :, s : s + width] += weight
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


class LimeAttribution(PerturbationAttributionRegistry):
    """LIME (Ribeiro et al., 2016) as inseq 0.7 runs it: a weighted ridge model fit on randomly masked inputs.

    Each sample masks every attributed token with probability ``mask_prob`` (special tokens never), replacing it
    with the UNK (``mask_token="unk"``) or padding (``"pad"``) token. One forward per sample gives the attributed
    function at every target position; position ``p`` fits ``sklearn.linear_model.Ridge`` on the flattened perturbed
    embeddings of its prefix (decoder-only) or of the source (encoder-decoder), weighting each sample by its number
    of unchanged input elements, as inseq 0.7 did: one coefficient per (token, embedding dimension).
    Sampling uses a ``torch.Generator`` seeded with ``seed``, so results are reproducible. Target-side attribution
    of encoder-decoder models is not supported (as in inseq 0.7).

    Example:
        >>> import inseq
        >>> model = inseq.load_model("gpt2", "lime")  # doctest: +SKIP
        >>> out = model.attribute("Hello world", "Hello world, how are you?", n_samples=100, seed=1)  # doctest: +SKIP
    """

    method_name = "lime"
    output_kind = "granular"
    supports_attribute_target = False

    def compute(
        self,
        ctx: AttributionContext,
        *,
        n_samples: int = 50,
        mask_prob: float = 0.3,
        mask_token: str = "unk",
        alpha: float = 1.0,
        seed: int = 42,
        perturbations_per_eval: int | None = None,
        show_progress: bool = False,
    ) -> MethodResult:
        """Fit one LIME model per attributed position.

        Args:
            ctx: The engine context.
            n_samples: Number of perturbed samples per example.
            mask_prob: Probability of masking each token in a sample.
            mask_token: ``"unk"`` or ``"pad"``: the replacement of masked tokens.
            alpha: Ridge regularisation strength.
            seed: Seed of the sampling generator.
            perturbations_per_eval: Samples run in one forward (default: as many as fit a memory budget).
            show_progress: Accepted for compatibility (the engine shows progress).
        """
        if mask_token not in ("unk", "pad"):
            raise ValueError(f"mask_token must be 'unk' or 'pad', got {mask_token!r}.")
        if not isinstance(n_samples, int) or n_samples < 2:
            raise ValueError(f"n_samples must be an integer >= 2, got {n_samples!r}.")
        if not 0 < mask_prob < 1:
            raise ValueError(f"mask_prob must be in (0, 1), got {mask_prob!r}.")
        forward = PerturbedForward(ctx, PerturbationOptions(perturbations_per_eval))
        model, batch = ctx.model, ctx.batch
        with_src = batch.source_ids is not None  # the source is attributed when there is one, else the target
        replacement = model.unk_token_id if mask_token == "unk" else model.pad_token_id
        ids = batch.source_ids if with_src else batch.target_ids
        valid = (batch.source_mask if with_src else batch.target_mask).bool().cpu()
        special = torch.isin(ids.cpu(), torch.tensor(sorted(set(model.special_tokens_ids)), dtype=torch.long))
        masked = lime_masks(valid & ~special, n_samples, mask_prob, torch.Generator().manual_seed(seed))

        def build(first: int, last: int) -> Perturbed:
            k = last - first
            perturbed = torch.where(masked[first:last].to(ids.device), replacement, ids.unsqueeze(0)).flatten(0, 1)
            if with_src:
                target = model.embed_ids(batch.target_ids, as_targets=True).repeat(k, 1, 1)
                return Perturbed(k, target_embeds=target, source_ids=perturbed)
            return Perturbed(k, target_embeds=model.embed_ids(perturbed, as_targets=True))

        with torch.no_grad():
            values = forward.map(n_samples, build)
        out = _fit_lime(ctx, ids, masked, values, valid, replacement, alpha)
        if ctx.progress is not None:
            ctx.progress(ctx.n_positions)
        return MethodResult(source=out, target=None) if with_src else MethodResult(target=out)


def _fit_lime(
    ctx: AttributionContext,
    ids: torch.Tensor,
    masked: torch.Tensor,
    values: torch.Tensor,
    valid: torch.Tensor,
    replacement: int,
    alpha: float,
) -> torch.Tensor:
    """``(batch, n_positions, len, hidden)`` LIME coefficients: one surrogate per example and attributed position.

    As inseq 0.7: the features are the flattened perturbed embeddings of the position's input (the source, or the
    target prefix), so there is one coefficient per (token, embedding dimension).
    """
    model, with_src = ctx.model, ctx.batch.source_ids is not None
    with torch.no_grad():
        embeds = model.embed_ids(ids).double().cpu()
        filler = model.embed_ids(torch.tensor([[replacement]], device=ids.device))[0, 0].double().cpu()
    n, length, hidden = embeds.shape
    grid = torch.full((n, ctx.n_positions, length, hidden), float("nan"))
    lengths = valid.sum(-1).tolist()
    for b in range(n):
        for col, p in enumerate(ctx.positions.tolist()):
            if not bool(ctx.active[b, col]):
                continue
            upto = lengths[b] if with_src else p
            hit = masked[:, b, :upto]
            features = torch.where(hit.unsqueeze(-1), filler, embeds[b, :upto].unsqueeze(0))
            grid[b, col, :upto] = lime_surrogate(features, values[:, b, col], (~hit).sum(-1), alpha)
    return grid
