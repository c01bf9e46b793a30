"""The path-integral kernel shared by every gradient method of the engine's fast path.

Saliency, input x gradient, integrated gradients, sequential integrated gradients and discretized integrated
gradients all compute, for every target position ``p`` of the grid,

    ``score(p) = post(scale * sum_k W_k * grad_x f_p(x_k))``

over the points ``x_k`` of a path through the input embeddings, with per-point weights ``W_k``: saliency is the
one-point path at the input with ``post = abs``; input x gradient the same point with ``scale = x``; integrated
gradients the straight line from the baseline with the integration rule's weights and ``scale = x - baseline``;
sequential IG one straight line per token, the other tokens fixed; discretized IG monotonic paths whose weights
already hold the step lengths. A method describes its path as :class:`PathPass` objects (``n`` points of every
example stacked along the rows) and :class:`PathIntegral` runs them: one forward per chunk of target positions and
one batched backward giving the gradient of every position of the chunk, reduced over the points on the device
into a single float32 accumulator on the CPU.

Memory: the chunk sizes come from :meth:`~inseq.attr.engine.AttributionContext.chunks` with the
``backward_tokens`` budget counting the stacked points (``rows``) and the logits of a batched backward
(``k x k`` positions of ``vocab`` scores per row); how many points share a pass follows from the same budget
(see :func:`points_per_pass`). Change the budgets with :func:`inseq.utils.budgets.memory_budgets`. A pass over
the ``checkpoint_mb`` budget (off by default) runs with its transformer blocks checkpointed
(:mod:`inseq.attr.checkpointing`): the same numbers, about one more forward, a lower peak. A pass over the
``release_mb`` budget on the CPU hands the heap memory it frees back to the OS at each block (:mod:`inseq.attr.heap`).

Example:
    >>> options = PathOptions(n_steps=10, internal_batch_size=None)
    >>> options.n_steps
    10
    >>> PathOptions(n_steps=10, internal_batch_size=0)
    Traceback (most recent call last):
    ...
    inseq.utils.errors.InvalidArgumentError: internal_batch_size must be an int >= 1 or None, got 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from ....utils.checks import check_int
from ...checkpointing import activation_checkpointing
from ...heap import released_heap

if TYPE_CHECKING:
    from ...engine import AttributionContext
    from ...port import AttributionModelPort


@dataclass(frozen=True)
class PathOptions:
    """Options every path method accepts, validated once here (the same checks as ``attribute()``'s own).

    Attributes:
        n_steps: Points of the path (gradient evaluations per input).
        internal_batch_size: Rows (points x examples) of one forward pass; None: follow the memory budgets.
        max_chunk_size: Upper bound on the positions of one batched backward pass; None: follow the budgets.
        min_steps: Smallest valid ``n_steps`` (discretized IG needs two points).
    """

    n_steps: int = 1
    internal_batch_size: int | None = None
    max_chunk_size: int | None = None
    min_steps: int = 1

    def __post_init__(self) -> None:
        check_int("n_steps", self.n_steps, minimum=self.min_steps)
        check_int("internal_batch_size", self.internal_batch_size, minimum=1, allow_none=True)
        check_int("max_chunk_size", self.max_chunk_size, minimum=1, allow_none=True)


@dataclass
class PathPass:
    """``n`` points of every example, stacked along the rows (row ``r`` belongs to example ``r % batch``).

    Attributes:
        n: Points in the pass.
        target: ``(n * batch, tgt_len, hidden)`` target embeddings (the points, or the input repeated when the
            target is not attributed).
        source: ``(n * batch, src_len, hidden)`` source embeddings, or None for the clean source (or none at all).
        target_weights: Weights of the target points, broadcastable to ``(n, batch, tgt_len, hidden)``; None: the
            target gets no gradient in this pass.
        source_weights: Same for the source.
        columns: Only these token columns move and get gradients (sequential IG); None: every token.
        progress_weight: Share of a position's progress that this pass accounts for.
    """

    n: int
    target: torch.Tensor
    source: torch.Tensor | None = None
    target_weights: torch.Tensor | None = None
    source_weights: torch.Tensor | None = None
    columns: slice | None = None
    progress_weight: float = 1.0


def batched_grads(values: torch.Tensor, inputs: list[torch.Tensor], retain_graph: bool) -> tuple[torch.Tensor, ...]:
    """Gradients of each column of ``values`` (rows, k) w.r.t. ``inputs``: each result is ``(k, *input.shape)``."""
    k = values.shape[1]
    grad_outputs = torch.eye(k, dtype=values.dtype, device=values.device).unsqueeze(1).expand(k, *values.shape)
    grads = torch.autograd.grad(
        values, inputs, grad_outputs=grad_outputs, is_grads_batched=True, retain_graph=retain_graph, allow_unused=True
    )
    return tuple(
        torch.zeros(k, *x.shape, dtype=x.dtype, device=x.device) if g is None else g for g, x in zip(grads, inputs)
    )


def logit_weight(ctx: AttributionContext) -> float:
    """Token rows one position's logits weigh in a backward pass: ``vocab / hidden`` of the embedding matrix."""
    vocab, hidden = ctx.model.vocabulary_embeddings.shape
    return vocab / hidden


def points_per_pass(ctx: AttributionContext, options: PathOptions, source_len: int = 0) -> int:
    """Path points stacked in one pass: ``internal_batch_size`` rows, or as many as the memory budgets allow.

    The chunk of positions and the points per pass are chosen together, for the fewest passes: each chunk size up
    to the one a one-point pass (saliency) would use at the longest prefix is tried, with as many points as keep
    its cost within ``backward_tokens`` and the pass's rows x tokens within ``forward_tokens`` (both raised on small
    models to what ``small_pass_mb`` holds, :meth:`AttributionContext.token_budgets`). On long inputs this gives one
    point per pass, i.e. integrated gradients with ``n`` steps runs ``n`` saliency-sized passes: the cost of ``n``
    saliencies and the peak memory of one; on a small input all the points share one pass.
    """
    batch = ctx.batch.size
    if options.internal_batch_size is not None:
        return max(1, min(options.n_steps, options.internal_batch_size // batch))
    backward, forward = ctx.token_budgets()
    p_max = int(ctx.positions[-1])
    weight = logit_weight(ctx)
    by_forward = forward // max(1, batch * (ctx.batch.target_ids.shape[1] + source_len))
    top = max(1, min(options.max_chunk_size or ctx.max_chunk_size or 64, round(math.sqrt(2 * (p_max + 8)))))
    best: tuple[int, int] | None = None  # (passes, -points)
    for k in range(1, min(top, ctx.n_positions) + 1):
        by_backward = backward // max(1, math.ceil(k * batch * (p_max + k * weight)))
        points = max(1, min(options.n_steps, by_backward, by_forward))
        key = (math.ceil(options.n_steps / points) * math.ceil(ctx.n_positions / k), -points)
        best = key if best is None or key < best else best
    return -best[1]


class PathIntegral:
    """Accumulates ``sum_k W_k * grad f(x_k)`` of every grid position over the passes of a path.

    Example:
        >>> # inside a method's compute(ctx):
        >>> # kernel = PathIntegral(ctx, options)
        >>> # kernel.run(PathPass(1, tgt, src, target_weights=one, source_weights=one))
        >>> # result = kernel.result(post=torch.abs_)
    """

    def __init__(self, ctx: AttributionContext, options: PathOptions) -> None:
        self.ctx = ctx
        self.options = options
        batch = ctx.batch
        src_len = batch.source_ids.shape[1] if batch.source_ids is not None else 0
        hidden = ctx.model.vocabulary_embeddings.shape[-1]
        self.source = torch.zeros(batch.size, ctx.n_positions, src_len, hidden) if src_len else None
        self.target = None
        if ctx.wants_target:
            self.target = torch.zeros(batch.size, ctx.n_positions, batch.target_ids.shape[1], hidden)
        self._logit_weight = logit_weight(ctx)
        self._source_len = src_len
        self._clean: dict[int, object] = {}

    def _clean_encoding(self, n: int) -> object:
        """The clean source encoded for ``n`` stacked copies (no gradient; cached; None without an encoder)."""
        if n not in self._clean:
            with torch.no_grad():
                self._clean[n] = self.ctx.scorer.encode(repeat=n)
        return self._clean[n]

    def _encode(self, spec: PathPass) -> tuple[object, torch.Tensor | None]:
        """Encoder outputs of the pass and the source leaf that receives gradients (or None)."""
        if spec.source is None:
            return self._clean_encoding(spec.n), None
        if spec.source_weights is None:
            with torch.no_grad():
                return self.ctx.scorer.encode(spec.source, repeat=spec.n), None
        full, leaf = _leaf(spec.source, spec.columns)
        with _long_pass(self.ctx.model, full.shape[0], full.shape[1]):
            return self.ctx.scorer.encode(full, repeat=spec.n), leaf

    def run(self, spec: PathPass) -> None:
        """Run one pass: a forward and a batched backward per chunk of positions, reduced into the accumulators."""
        ctx, n = self.ctx, spec.n
        enc, src_leaf = self._encode(spec)
        cols = spec.columns
        chunks = ctx.chunks(
            rows=n,
            max_size=self.options.max_chunk_size,
            progress_weight=spec.progress_weight,
            logit_weight=self._logit_weight,
        )
        for p0, p1 in chunks:
            length = p1 - 1
            moves_target = spec.target_weights is not None
            if moves_target and cols is not None and length <= cols.start:
                continue  # no position of the chunk has the moving token in its prefix
            tgt_in, tgt_leaf = _leaf(spec.target[:, :length], cols) if moves_target else (spec.target, None)
            with _long_pass(ctx.model, tgt_in.shape[0], length + self._source_len):
                values = ctx.scorer.score(p0, p1, repeat=n, target_embeds=tgt_in, encoder_outputs=enc)
            leaves = [x for x in (src_leaf, tgt_leaf) if x is not None]
            if not leaves:
                continue
            grads = list(batched_grads(values, leaves, retain_graph=src_leaf is not None))
            del values
            if src_leaf is not None:
                src_cols = cols or slice(0, src_leaf.shape[1])
                self._add(self.source, p0, p1, grads.pop(0), spec.source_weights, n, src_cols)
            if tgt_leaf is not None:
                self._add(self.target, p0, p1, grads.pop(0), spec.target_weights, n, cols or slice(0, length))

    def _add(
        self,
        acc: torch.Tensor | None,
        p0: int,
        p1: int,
        grads: torch.Tensor,
        weights: torch.Tensor,
        n: int,
        cols: slice,
    ) -> None:
        """Reduce ``(k, n * batch, c, hidden)`` gradients over the points (on their device) into ``acc``."""
        if acc is None:
            return
        b = self.ctx.batch.size
        w = weights[:, :, cols] if weights.dim() == 4 and weights.shape[2] > 1 else weights
        w = w.to(grads.device, torch.float32)
        g = grads.unflatten(1, (n, b))
        total = g[:, 0].float() * w[0]
        for j in range(1, n):
            total += g[:, j].float() * w[j]
        acc[:, self.ctx.grid_columns(p0, p1), cols] += total.transpose(0, 1).cpu()

    def result(
        self, source_scale: torch.Tensor | None = None, target_scale: torch.Tensor | None = None, post=None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The accumulated scores, multiplied in place by ``(batch, len, hidden)`` scales and passed to ``post``."""
        for acc, scale in ((self.source, source_scale), (self.target, target_scale)):
            if acc is None:
                continue
            if scale is not None:
                acc.mul_(scale.detach().float().cpu().unsqueeze(1))
            if post is not None:
                post(acc)
        return self.source, self.target


@contextmanager
def _long_pass(model: AttributionModelPort, rows: int, tokens: int) -> Iterator[None]:
    """The memory measures of a pass with gradients of ``rows x tokens``: activation checkpointing over the
    ``checkpoint_mb`` budget, the heap released at each block over ``release_mb``."""
    with activation_checkpointing(model, rows, tokens), released_heap(model, tokens):
        yield


def _leaf(points: torch.Tensor, cols: slice | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(inputs, leaf)``: the inputs of a forward, built from ``leaf`` (the moving columns, requiring grad)."""
    if cols is None:
        leaf = points.detach().requires_grad_(True)
        return leaf, leaf
    leaf = points[:, cols].detach().requires_grad_(True)
    return torch.cat([points[:, : cols.start].detach(), leaf, points[:, cols.stop :].detach()], dim=1), leaf


def step_rule(method: str, n_steps: int) -> tuple[list[float], list[float]]:
    """Captum's integration rule ``method``: ``(step_sizes, alphas)`` of ``n_steps`` points.

    Raises:
        ValueError: for an unknown rule, naming the valid ones.
    """
    from captum.attr._utils.approximation_methods import SUPPORTED_METHODS, approximation_parameters

    if method not in SUPPORTED_METHODS:
        raise ValueError(f"method must be one of {sorted(SUPPORTED_METHODS)}, got {method!r}.")
    step_sizes_fn, alphas_fn = approximation_parameters(method)
    return list(step_sizes_fn(n_steps)), list(alphas_fn(n_steps))
