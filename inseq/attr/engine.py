"""The attribution engine: teacher-forced passes that attribute every target position of a batch at once.

inseq 0.7 re-ran the model on the growing prefix for every generated token. Here, with a causal decoder, one forward
over a sequence gives the output at every position, and the output at position ``p - 1`` depends only on tokens
``< p``: exactly what attributing target position ``p`` from its prefix needs. Methods therefore work on a *grid* of
target positions shared by the batch, in chunks: a chunk of positions ``[p0, p1)`` needs one forward over the first
``p1 - 1`` tokens, and gradient methods get the gradients of all its positions from one batched backward pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from ..utils.budgets import get_budgets, row_bytes, token_budget
from .scorer import Scorer
from .step_args import make_step_args, per_example_kwargs
from .step_functions import StepFunction, StepFunctionArgs, get_step_function, is_builtin_step_function
from .validation import check_step_output

if TYPE_CHECKING:
    from ..data.batch import AttributionBatch
    from .port import AttributionModelPort


@dataclass
class ContrastData:
    """Precomputed contrastive side: logits and target ids on the engine's position grid.

    Attributes:
        logits: ``(batch, n_positions, vocab)`` logits under the contrastive inputs, or None to reuse the
            original forward (contrastive target only, the default for attributed functions).
        target_ids: ``(batch, n_positions)`` ids of the contrastive targets.
        force_inputs: Whether the attributed function must read the contrastive forward.
        has_targets: Whether contrastive targets (not only sources) were given.
    """

    logits: torch.Tensor | None
    target_ids: torch.Tensor
    force_inputs: bool = False
    has_targets: bool = False


@dataclass
class AttributionContext:
    """What a method sees of one batch: the model, the batch, the position grid and a scorer.

    Attributes:
        model: The attribution model.
        batch: The batch being attributed.
        positions: ``(n_positions,)`` target positions of the grid.
        active: ``(batch, n_positions)`` whether each example attributes each grid position.
        attribute_target: Whether target-side (prefix) attributions are wanted.
        scorer: Computes the attributed function for chunks of positions.
        max_chunk_size: Upper bound on the number of positions handled by one backward pass.
    """

    model: AttributionModelPort
    batch: AttributionBatch
    positions: torch.Tensor
    active: torch.Tensor
    attribute_target: bool
    scorer: TargetScorer
    max_chunk_size: int | None = None
    progress: Callable[[int], None] | None = field(default=None, repr=False)

    @property
    def grid_start(self) -> int:
        return int(self.positions[0])

    def token_budgets(self) -> tuple[int, int]:
        """``(backward_tokens, forward_tokens)`` in force for this model: the budgets, raised on a small model to
        what ``small_pass_mb`` holds (:func:`inseq.utils.budgets.token_budget`), so small passes are never split.
        """
        budgets, per_row = get_budgets(), row_bytes(self.model.torch_module)
        return token_budget(budgets.backward_tokens, per_row), token_budget(budgets.forward_tokens, per_row)

    @property
    def n_positions(self) -> int:
        return len(self.positions)

    @property
    def wants_target(self) -> bool:
        """Target-side attributions: always without a source (decoder-only), on request with one."""
        return self.attribute_target or self.batch.source_ids is None

    def chunks(
        self, rows: int = 1, max_size: int | None = None, progress_weight: float = 1.0, logit_weight: float = 0.0
    ) -> Iterator[tuple[int, int]]:
        """Split the grid into chunks ``(p0, p1)`` of target positions.

        A chunk of ``k`` positions ending at ``p1`` costs one forward over ``p1 - 1`` tokens plus ``k`` backward
        passes over the same tokens: ``k ≈ sqrt(2 p1)`` balances the shared forward against the extra tokens the
        backward passes cover. Memory bounds ``k`` too: ``k * rows * batch * (p1 + k * logit_weight)`` stays within
        the ``backward_tokens`` memory budget (``rows`` = copies of the batch in the pass; ``logit_weight`` = token
        rows one position's logits weigh, e.g. ``vocab / hidden``: a batched backward holds ``k x k`` of them), or
        ``max_size`` when given.
        """
        limit = max_size or self.max_chunk_size or 64
        tokens = self.token_budgets()[0]
        p, end = self.grid_start, int(self.positions[-1]) + 1
        while p < end:
            k = backward_chunk(p, rows, self.batch.size, logit_weight, min(limit, end - p), tokens)
            yield p, p + k
            if self.progress is not None:
                self.progress(k * progress_weight)
            p += k

    def input_embeds(self) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Detached ``(source, target)`` input embeddings (source None for decoder-only)."""
        with torch.no_grad():
            src = _embed(self.model, self.batch.source_ids)
            tgt = self.model.embed_ids(self.batch.target_ids, as_targets=True)
        return src, tgt

    def baseline_embeds(self) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Detached ``(source, target)`` baseline embeddings (embeddings of the baseline ids)."""
        with torch.no_grad():
            src = _embed(self.model, self.batch.source_baseline_ids)
            tgt = self.model.embed_ids(self.batch.target_baseline_ids, as_targets=True)
        return src, tgt

    def grid_columns(self, p0: int, p1: int) -> slice:
        """Columns of the grid covering positions ``[p0, p1)``."""
        return slice(p0 - self.grid_start, p1 - self.grid_start)


def backward_cost(k: int, rows: int, batch: int, p: int, logit_weight: float) -> float:
    """Token rows one batched backward of ``k`` positions ending near ``p`` holds (the chunk cost model).

    ``k`` positions of ``rows`` stacked copies of a ``batch`` of ``p`` tokens, each position's logits weighing
    ``logit_weight`` token rows (a batched backward holds ``k x k`` of them).

    Example:
        >>> backward_cost(2, 1, 1, 10, 0.5)
        22.0
    """
    return k * rows * batch * (p + k * logit_weight)


def backward_chunk(p: int, rows: int, batch: int, logit_weight: float, limit: int, tokens: int | None = None) -> int:
    """Positions of one batched backward ending near ``p``: ``sqrt(2 p)`` balances the shared forward against the
    extra tokens the backward passes cover, at most ``limit``, and as many as ``tokens`` allows (default: the
    ``backward_tokens`` budget).

    Example:
        >>> backward_chunk(200, 1, 1, 0.0, 64)  # sqrt(2 * 208) = 20 positions, but 5 x 200 tokens fill the budget
        5
    """
    tokens = tokens or get_budgets().backward_tokens
    k = max(1, min(limit, round(math.sqrt(2 * (p + 8)))))
    while k > 1 and backward_cost(k, rows, batch, p, logit_weight) > tokens:
        k -= 1
    return k


class TargetScorer:
    """Evaluates the attributed function at chunks of target positions, from (possibly modified) inputs.

    Inputs may carry ``repeat`` copies of the batch stacked along the first dimension (e.g. the interpolation steps
    of integrated gradients): row ``r`` belongs to example ``r % batch_size``.
    """

    def __init__(
        self,
        model: AttributionModelPort,
        batch: AttributionBatch,
        fn: StepFunction,
        fn_kwargs: dict[str, Any],
        contrast: ContrastData | None,
        grid_start: int,
        label: str | None = None,
        forward_path: Scorer | None = None,
    ) -> None:
        self.label = label  # the registered id, named in errors about the function's output
        self.model = model
        self.forward_path = forward_path or Scorer(model)
        self.batch = batch
        self.fn = fn
        self.fn_kwargs = fn_kwargs
        self.contrast = contrast
        self.grid_start = grid_start

    def encode(self, source_embeds: torch.Tensor | None = None, repeat: int = 1, source_ids=None) -> Any:
        """Run the encoder once (None without one); its output is reused by every chunk.

        Without embeddings or ids the batch's own source ids are encoded. The inputs are remembered on the output
        (as ``inseq_source``) so that custom step functions receive the very tensors gradients are taken w.r.t.
        """
        if source_embeds is None and source_ids is None and self.batch.source_ids is not None:
            source_ids = self.batch.source_ids.repeat(repeat, 1)
        mask = self.batch.source_mask_rows(repeat)
        out = self.forward_path.encode(embeds=source_embeds, ids=source_ids, mask=mask)
        if out is not None:
            out.inseq_source = SourceInputs(source_embeds, source_ids, mask)
        return out

    def logits(
        self,
        p0: int,
        p1: int,
        target_embeds: torch.Tensor | None = None,
        target_ids: torch.Tensor | None = None,
        encoder_outputs: Any = None,
        repeat: int = 1,
        extra_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``(rows, p1 - p0, vocab)`` logits predicting target positions ``[p0, p1)``."""
        length = p1 - 1
        mask = self.batch.target_mask.repeat(repeat, 1)[:, :length]
        if extra_mask is not None:
            mask = mask * extra_mask[:, :length]
        embeds = target_embeds[:, :length] if target_embeds is not None else None
        ids = target_ids[:, :length] if target_ids is not None else None
        return self.forward_path.forward(
            target_embeds=embeds,
            target_ids=ids,
            target_mask=mask,
            encoder_outputs=encoder_outputs,
            source_mask=self.batch.source_mask_rows(repeat),
            logits_from=p0 - 1,
        )

    def score(self, p0: int, p1: int, repeat: int = 1, **inputs: Any) -> torch.Tensor:
        """``(rows, p1 - p0)`` values of the attributed function at target positions ``[p0, p1)``."""
        logits = self.logits(p0, p1, repeat=repeat, **inputs)
        recompute = lambda: self.logits(p0, p1, repeat=repeat, **inputs).flatten(0, 1)  # noqa: E731
        return self.apply(logits, p0, p1, repeat, recompute, inputs=inputs)

    def apply(
        self,
        logits: torch.Tensor,
        p0: int,
        p1: int,
        repeat: int = 1,
        recompute: Callable[[], torch.Tensor] | None = None,
        inputs: dict[str, Any] | None = None,
        is_attributed_fn: bool = True,
    ) -> torch.Tensor:
        """Apply the function to ``(rows, k, vocab)`` logits predicting positions ``[p0, p1)``.

        ``inputs`` are the keyword arguments the logits were computed from (``target_embeds``, ``target_ids``,
        ``encoder_outputs``): custom step functions receive them, one generation step at a time.
        """
        rows, k = logits.shape[:2]
        if not is_builtin_step_function(self.fn):
            return self._per_step(logits, p0, p1, repeat, inputs or {}, is_attributed_fn)
        args = build_step_args(
            self.model, self.batch, logits, p0, p1, repeat, self.contrast, self.grid_start, is_attributed_fn
        )
        args.recompute_logits = recompute
        return check_step_output(self.fn, self.fn(args, **self.fn_kwargs), rows * k, True).reshape(rows, k)

    def _per_step(
        self, logits: torch.Tensor, p0: int, p1: int, repeat: int, inputs: dict[str, Any], is_attributed_fn: bool
    ) -> torch.Tensor:
        """Call a custom step function once per position, with inseq 0.7's ``(batch, step_len)`` arguments."""
        rows = logits.shape[0]
        kwargs = repeat_batch_kwargs(self.fn_kwargs, self.batch.size, repeat)
        columns = []
        for p in range(p0, p1):
            step_logits = logits[:, p - p0 : p - p0 + 1]
            args = step_args_at(
                self.model,
                self.batch,
                p,
                step_logits,
                repeat,
                inputs,
                self.contrast,
                self.grid_start,
                is_attributed_fn,
            )
            value = check_step_output(self.label or self.fn, self.fn(args, **kwargs), rows, is_attributed_fn)
            columns.append(value.reshape(rows))
        return torch.stack(columns, 1)


@dataclass
class SourceInputs:
    """What an encoder pass was computed from: embeddings (or None when run from ids), ids and mask (rows)."""

    embeds: torch.Tensor | None
    ids: torch.Tensor | None
    mask: torch.Tensor | None


def repeat_batch_kwargs(kwargs: dict[str, Any], batch_size: int, repeat: int) -> dict[str, Any]:
    """Repeat tensor keyword arguments with one row per example along the rows, as Captum expands them.

    Example:
        >>> repeat_batch_kwargs({"ids": torch.zeros(2, 3), "n": 1}, batch_size=2, repeat=3)["ids"].shape
        torch.Size([6, 3])
    """
    if repeat == 1:
        return kwargs
    out = dict(kwargs)
    for key in per_example_kwargs(kwargs, batch_size):
        value = kwargs[key]
        out[key] = value.repeat(repeat, *([1] * (value.ndim - 1)))
    return out


def step_args_at(
    model: AttributionModelPort,
    batch: AttributionBatch,
    p: int,
    logits: torch.Tensor,
    repeat: int,
    inputs: dict[str, Any],
    contrast: ContrastData | None,
    grid_start: int,
    is_attributed_fn: bool = False,
) -> StepFunctionArgs:
    """inseq 0.7's arguments of generation step ``p`` (predicting target position ``p`` from its prefix).

    ``logits`` are the ``(rows, 1, vocab)`` logits predicting position ``p``; ``inputs`` the tensors they were
    computed from. Embeddings given in ``inputs`` are passed as they are (sliced to the prefix), so gradients taken
    w.r.t. them flow through anything the step function computes from its arguments.
    """
    target_ids, target_embeds = inputs.get("target_ids"), inputs.get("target_embeds")
    ids = target_ids[:, :p] if target_ids is not None else batch.target_ids[:, :p].repeat(repeat, 1)
    source = getattr(inputs.get("encoder_outputs"), "inseq_source", None)
    src_ids = source.ids if source is not None and source.ids is not None else None
    if src_ids is None and batch.source_ids is not None:
        src_ids = batch.source_ids.repeat(repeat, 1)
    args = make_step_args(
        model,
        logits[:, -1],
        batch.target_ids[:, p].repeat(repeat),
        decoder_input_ids=ids,
        decoder_attention_mask=batch.target_mask[:, :p].repeat(repeat, 1),
        decoder_input_embeds=target_embeds[:, :p] if target_embeds is not None else None,
        encoder_input_ids=src_ids,
        encoder_attention_mask=batch.source_mask_rows(repeat),
        encoder_input_embeds=source.embeds if source is not None else None,
        is_attributed_fn=is_attributed_fn,
        per_step=True,
    )
    if contrast is not None:
        col = p - grid_start
        args.contrast_target_ids = contrast.target_ids[:, col].repeat(repeat).to(logits.device)
        if contrast.logits is not None and (contrast.force_inputs or not is_attributed_fn):
            args.contrast_logits = contrast.logits[:, col].repeat(repeat, 1).to(logits.device)
    return args


def build_step_args(
    model: AttributionModelPort,
    batch: AttributionBatch,
    logits: torch.Tensor,
    p0: int,
    p1: int,
    repeat: int,
    contrast: ContrastData | None,
    grid_start: int,
    is_attributed_fn: bool = False,
) -> StepFunctionArgs:
    """Flatten ``(rows, k, vocab)`` logits into step-function rows (row-major: example, then position)."""
    rows, k = logits.shape[:2]
    length = p1 - 1
    device = logits.device
    ids = batch.target_ids[:, :length].repeat(repeat, 1)
    prefix = torch.arange(length, device=device).unsqueeze(0) < torch.arange(p0, p1, device=device).unsqueeze(1)
    mask = batch.target_mask[:, :length].repeat(repeat, 1).unsqueeze(1) * prefix.unsqueeze(0)
    src, src_mask = None, None
    if batch.source_ids is not None:
        src = _per_position(batch.source_ids.repeat(repeat, 1), k)
        src_mask = _per_position(batch.source_mask.repeat(repeat, 1), k)
    args = make_step_args(
        model,
        logits.reshape(rows * k, -1),
        batch.target_ids[:, p0:p1].repeat(repeat, 1).reshape(-1),
        decoder_input_ids=_per_position(ids, k),
        decoder_attention_mask=mask.reshape(rows * k, length),
        encoder_input_ids=src,
        encoder_attention_mask=src_mask,
        is_attributed_fn=is_attributed_fn,
    )
    if contrast is not None:
        cols = slice(p0 - grid_start, p1 - grid_start)
        args.contrast_target_ids = contrast.target_ids[:, cols].repeat(repeat, 1).reshape(-1).to(device)
        if contrast.logits is not None and (contrast.force_inputs or not args.is_attributed_fn):
            args.contrast_logits = contrast.logits[:, cols].repeat(repeat, 1, 1).reshape(rows * k, -1).to(device)
    return args


def _per_position(rows: torch.Tensor, k: int) -> torch.Tensor:
    """``(rows, len)`` -> ``(rows * k, len)``: each row repeated for the ``k`` positions it is read at."""
    return rows.unsqueeze(1).expand(rows.shape[0], k, rows.shape[-1]).reshape(rows.shape[0] * k, -1)


def _embed(model: AttributionModelPort, ids: torch.Tensor | None) -> torch.Tensor | None:
    return None if ids is None else model.embed_ids(ids)


def compute_step_scores(
    ctx: AttributionContext,
    step_scores: list[str],
    step_scores_args: dict[str, dict[str, Any]],
    contrast: ContrastData | None,
) -> dict[str, torch.Tensor]:
    """Compute every requested step score on the grid with clean (no-grad) teacher-forced forwards."""
    if not step_scores:
        return {}
    out = {name: torch.full(tuple(ctx.active.shape), float("nan")) for name in step_scores}
    batch = ctx.batch
    with torch.no_grad():
        enc = ctx.scorer.encode()
        for p0, p1 in _plain_chunks(ctx):
            logits = ctx.scorer.logits(p0, p1, target_ids=batch.target_ids, encoder_outputs=enc)

            def recompute(p0=p0, p1=p1):
                return ctx.scorer.logits(p0, p1, target_ids=batch.target_ids, encoder_outputs=enc).flatten(0, 1)

            args = build_step_args(ctx.model, batch, logits, p0, p1, 1, contrast, ctx.grid_start)
            args.recompute_logits = recompute
            for name in step_scores:
                fn, fn_kwargs = get_step_function(name), step_scores_args.get(name, {})
                if is_builtin_step_function(fn):
                    values = check_step_output(name, fn(args, **fn_kwargs), len(args.target_ids))
                else:
                    scorer = TargetScorer(
                        ctx.model, batch, fn, fn_kwargs, contrast, ctx.grid_start, name, ctx.scorer.forward_path
                    )
                    inputs = {"target_ids": batch.target_ids, "encoder_outputs": enc}
                    values = scorer.apply(logits, p0, p1, inputs=inputs, is_attributed_fn=False)
                out[name][:, ctx.grid_columns(p0, p1)] = values.reshape(batch.size, p1 - p0).float().cpu()
    return out


def _plain_chunks(ctx: AttributionContext) -> Iterator[tuple[int, int]]:
    """Chunks for no-grad passes: as long as memory for ``rows x vocab`` logits allows (``plain_rows`` budget)."""
    step = max(1, get_budgets().plain_rows // max(1, ctx.batch.size))
    p, end = ctx.grid_start, int(ctx.positions[-1]) + 1
    while p < end:
        yield p, min(end, p + step)
        p += step


def attributed_fn_values(ctx: AttributionContext, target_embeds=None, source_embeds=None) -> torch.Tensor:
    """``(batch, n_positions)`` values of the attributed function on given (or the original) inputs."""
    batch = ctx.batch
    out = torch.full(tuple(ctx.active.shape), float("nan"))
    with torch.no_grad():
        enc = ctx.scorer.encode(source_embeds)
        inputs = {"target_embeds": target_embeds} if target_embeds is not None else {"target_ids": batch.target_ids}
        for p0, p1 in _plain_chunks(ctx):
            values = ctx.scorer.score(p0, p1, encoder_outputs=enc, **inputs)
            out[:, ctx.grid_columns(p0, p1)] = values.float().cpu()
    return out


def make_context(
    model: AttributionModelPort,
    batch: AttributionBatch,
    attributed_fn: StepFunction,
    attributed_fn_args: dict[str, Any],
    attribute_target: bool,
    contrast: ContrastData | None = None,
    max_chunk_size: int | None = None,
    forward_path: Scorer | None = None,
) -> AttributionContext:
    """Build the :class:`AttributionContext` of a batch (its forwards go through ``forward_path``)."""
    positions = torch.arange(batch.grid_start, batch.grid_end)
    scorer = TargetScorer(
        model, batch, attributed_fn, attributed_fn_args, contrast, batch.grid_start, forward_path=forward_path
    )
    return AttributionContext(
        model=model,
        batch=batch,
        positions=positions,
        active=batch.active(positions),
        attribute_target=attribute_target,
        scorer=scorer,
        max_chunk_size=max_chunk_size,
    )
