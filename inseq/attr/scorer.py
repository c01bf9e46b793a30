"""The one forward path: every forward over the model that attribution, step scores, contrast, evaluation and source
attribution run goes through :meth:`Scorer.forward`.

:class:`Scorer` wraps the port. Its :meth:`~Scorer.forward` runs one padded teacher-forced forward and returns logits
only where they are read (from a column on, or at given ``(row, column)`` pairs). :meth:`~Scorer.score_rows` serves
callers holding many rows of different lengths (perturbed copies of sequences, ablated contexts): it sorts them by
length, pads them, runs them in chunks bounded by two memory budgets (``rows x tokens`` and ``rows x positions`` of
logits), runs a prefix shared by every row once and reuses its key-value cache, and applies a step function to the
logits of each read.

Example:
    >>> import inseq
    >>> model = inseq.load_model(inseq.testing.get_tiny_model_path("gpt2"), "saliency")  # doctest: +SKIP
    >>> rows = [ScoreRow([5, 6, 7], reads=[(1, 7)]), ScoreRow([5, 9], reads=[(0, 9)])]  # doctest: +SKIP
    >>> Scorer(model).score_rows(rows, inseq.attr.step_functions.probability_fn, {})  # doctest: +SKIP
    tensor([0.0004, 0.0004])
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from .step_args import make_step_args

if TYPE_CHECKING:
    from .port import AttributionModelPort

#: Padding a chunk of :meth:`Scorer.score_rows` may add, as a share of its real tokens (rows are sorted, so a new
#: chunk starts when the next row would pad the chunk beyond it).
MAX_PADDING = 0.1
#: Tokens below which a forward costs about as much as one of that many tokens on a CPU (small matrix products run
#: far below full speed): the cost model that groups rows sharing prefixes (see ``efficient_tokens``).
EFFICIENT_TOKENS = 256


@dataclass
class ScoreRow:
    """One row of :meth:`Scorer.score_rows`: a (perturbed) sequence and the positions whose logits are read.

    Attributes:
        target_ids: Target-side ids (decoder-only: the whole sequence; encoder-decoder: decoder start + target).
        reads: ``(column, token_id)`` pairs: the logits at ``column`` are read for the prediction of ``token_id``.
        source_ids: Encoder-decoder only: the source ids.
        target_scale: ``(len(target_ids), hidden)`` factors multiplying the target embeddings (soft removal), or None.
        source_scale: Same for the source embeddings.
    """

    target_ids: list[int]
    reads: list[tuple[int, int]]
    source_ids: list[int] | None = None
    target_scale: torch.Tensor | None = None
    source_scale: torch.Tensor | None = None

    @property
    def scaled(self) -> bool:
        """Whether the row's embeddings are rescaled (it needs an embedding forward)."""
        return self.target_scale is not None or self.source_scale is not None

    @property
    def shareable(self) -> bool:
        """Whether the row can share a prefix's key-value cache with others (target ids only, no source)."""
        return not self.scaled and self.source_ids is None

    @property
    def width(self) -> int:
        """Tokens of the row's longest side."""
        return max(len(self.target_ids), len(self.source_ids or ()))


@dataclass
class RowBudget:
    """Bounds of one :meth:`Scorer.score_rows` forward.

    Attributes:
        tokens: ``rows x tokens`` of the forward.
        logits: Logit vectors it computes (one per read).
    """

    tokens: int
    logits: int


@dataclass
class Scorer:
    """The forward path over one model.

    Attributes:
        port: The model (anything implementing :class:`~inseq.attr.port.AttributionModelPort`).
        n_forwards: Forwards run so far.
    """

    port: AttributionModelPort
    n_forwards: int = field(default=0)

    def encode(
        self, embeds: torch.Tensor | None = None, ids: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> Any:
        """Run the encoder once on source embeddings or ids (None for models without one)."""
        return self.port.encode_source(embeds=embeds, ids=ids, mask=mask)

    def forward(
        self,
        *,
        target_mask: torch.Tensor,
        target_ids: torch.Tensor | None = None,
        target_embeds: torch.Tensor | None = None,
        encoder_outputs: Any = None,
        source_mask: torch.Tensor | None = None,
        logits_from: int = 0,
        logits_at: tuple[torch.Tensor, torch.Tensor] | None = None,
        past_key_values: Any = None,
        keep_cache: bool = False,
    ) -> Any:
        """One teacher-forced forward: the one function every forward of the library goes through.

        Args:
            target_mask: ``(rows, len)`` mask of the target-side inputs.
            target_ids: ``(rows, len)`` target-side ids, or None when ``target_embeds`` are given.
            target_embeds: ``(rows, len, hidden)`` target-side embeddings (as the first layer sees them).
            encoder_outputs: Output of :meth:`encode` (None for decoder-only models).
            source_mask: ``(rows, src_len)`` source mask (None for decoder-only models).
            logits_from: Logits of columns ``logits_from`` onwards: ``(rows, len - logits_from, vocab)``.
            logits_at: ``(row_index, column)`` tensors: logits at these pairs only, ``(pairs, vocab)``.
            past_key_values: Key-value cache of a prefix shared by every row (decoder-only); ``target_mask`` then
                covers the prefix too.
            keep_cache: Return ``(logits, cache)``: the key-value cache of this forward, for later forwards.
        """
        self.n_forwards += 1
        return self.port.forward_logits(
            target_embeds=target_embeds,
            target_ids=target_ids,
            target_mask=target_mask,
            encoder_outputs=encoder_outputs,
            source_mask=source_mask,
            logits_from=logits_from,
            logits_at=logits_at,
            past_key_values=past_key_values,
            keep_cache=keep_cache,
        )

    def score_rows(
        self,
        rows: list[ScoreRow],
        fn: Callable[..., torch.Tensor],
        fn_kwargs: dict[str, Any],
        budget: RowBudget,
        share_prefixes: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> list[torch.Tensor]:
        """``fn`` at the reads of every row (no gradients): one ``(len(row.reads),)`` tensor per row, in order.

        Args:
            rows: The rows.
            fn: A step function, applied to the logits of every read with vectorised arguments.
            fn_kwargs: Its keyword arguments.
            budget: Bounds of one forward.
            share_prefixes: The rows that can (decoder-only, unscaled) are ordered by their tokens and grouped so
                that the rows of a forward share a prefix: it runs once and its key-value cache serves the group.
            progress: Called with the number of rows of each chunk once it is done.
        """
        shared = [i for i, r in enumerate(rows) if share_prefixes and r.shareable]
        rest = sorted(
            set(range(len(rows))) - set(shared), key=lambda i: (rows[i].scaled, len(rows[i].reads) > 1, rows[i].width)
        )
        order = sorted(shared, key=lambda i: rows[i].target_ids) + rest
        out: list[torch.Tensor | None] = [None] * len(rows)
        with torch.no_grad():
            overhead = float(efficient_tokens(self.port)) if shared else 0.0
            for chunk, skip in _row_chunks([rows[i] for i in order], budget, share_prefixes, overhead):
                picked, order = order[: len(chunk)], order[len(chunk) :]
                cache = self._prefix_cache(chunk[0].target_ids[:skip]) if skip else None
                for i, v in zip(picked, self._score_chunk(chunk, fn, fn_kwargs, skip, cache)):
                    out[i] = v
                if progress is not None:
                    progress(len(chunk))
        return out  # type: ignore[return-value]

    def _prefix_cache(self, prefix: list[int]) -> Any:
        """The key-value cache of ``prefix``, run once."""
        ids = torch.tensor([prefix], dtype=torch.long, device=self.port.device)
        _, cache = self.forward(
            target_ids=ids, target_mask=torch.ones_like(ids), logits_from=len(prefix) - 1, keep_cache=True
        )
        return cache

    def _score_chunk(
        self, rows: list[ScoreRow], fn: Callable, fn_kwargs: dict[str, Any], skip: int, cache: Any
    ) -> list[torch.Tensor]:
        port, device = self.port, self.port.device
        full, mask = pad_rows([r.target_ids for r in rows], port.pad_token_id, device)
        ids = full[:, skip:]
        embeds = _scaled_embeds(port, ids, [r.target_scale for r in rows], 0, True) if rows[0].scaled else None
        src_ids, src_mask, enc = None, None, None
        if rows[0].source_ids is not None:
            src_ids, src_mask = pad_rows([r.source_ids for r in rows], port.pad_token_id, device)
            if rows[0].scaled:
                src_embeds = _scaled_embeds(port, src_ids, [r.source_scale for r in rows], 0, False)
                enc = self.encode(embeds=src_embeds, mask=src_mask)
            else:
                enc = self.encode(ids=src_ids, mask=src_mask)
        reads = [(j, c, t) for j, r in enumerate(rows) for c, t in r.reads]
        which = torch.tensor([j for j, _, _ in reads], device=device)
        cols = torch.tensor([c for _, c, _ in reads], device=device)
        logits = self.forward(
            target_mask=mask,
            target_ids=None if embeds is not None else ids,
            target_embeds=embeds,
            encoder_outputs=enc,
            source_mask=src_mask,
            logits_at=(which, cols - skip),
            past_key_values=None if cache is None else _expand_cache(cache, len(rows)),
        )
        prefix_mask = mask[which] * (torch.arange(full.shape[1], device=device).unsqueeze(0) <= cols.unsqueeze(1))
        args = make_step_args(
            port,
            logits,
            torch.tensor([t for _, _, t in reads], device=device),
            decoder_input_ids=full[which],
            decoder_attention_mask=prefix_mask,
            encoder_input_ids=src_ids[which] if src_ids is not None else None,
            encoder_attention_mask=src_mask[which] if src_mask is not None else None,
        )
        values = fn(args, **fn_kwargs).reshape(-1).float().cpu()
        return list(values.split([len(r.reads) for r in rows]))


def efficient_tokens(port: AttributionModelPort) -> int:
    """Tokens a forward needs before its matrix products run at full speed: a forward of fewer costs about as much
    (:data:`EFFICIENT_TOKENS` on a CPU, 16 times more on an accelerator). It decides when rows sharing a prefix are
    worth a forward of their own.

    Example:
        >>> efficient_tokens(model)  # on a CPU  # doctest: +SKIP
        256
    """
    return EFFICIENT_TOKENS * (16 if str(port.device).startswith(("cuda", "mps")) else 1)


def pad_rows(rows: list[list[int]], pad: int | None, device: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id lists into ``(ids, mask)`` tensors on ``device``.

    Example:
        >>> ids, mask = pad_rows([[5, 6], [7]], 0, "cpu")
        >>> ids.tolist(), mask.tolist()
        ([[5, 6], [7, 0]], [[1, 1], [1, 0]])
    """
    length = max(len(r) for r in rows)
    ids = torch.full((len(rows), length), pad if pad is not None else 0, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, : len(r)] = 1
    return ids.to(device), mask.to(device)


def _scaled_embeds(
    port: AttributionModelPort, ids: torch.Tensor, scales: list[torch.Tensor | None], skip: int, as_targets: bool
) -> torch.Tensor:
    """Embeddings of ``ids`` with row ``j`` multiplied by ``scales[j]`` (columns from ``skip``; None: unscaled)."""
    embeds = port.embed_ids(ids, as_targets=as_targets)
    for j, scale in enumerate(scales):
        if scale is not None:
            part = scale[skip:].to(embeds)
            embeds[j, : len(part)] = embeds[j, : len(part)] * part
    return embeds


def _expand_cache(cache: Any, rows: int) -> Any:
    """A copy of a one-row key-value cache repeated for ``rows`` rows."""
    expanded = copy.deepcopy(cache)
    if rows > 1:
        expanded.batch_repeat_interleave(rows)
    return expanded


def _common(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


@dataclass
class _Chunk:
    """A growing group of rows of one forward, with what it costs."""

    rows: list[ScoreRow]
    longest: int
    reads: int
    real: int
    prefix: int
    overhead: float  # tokens a forward costs at least

    @classmethod
    def of(cls, row: ScoreRow, share: bool, overhead: float) -> _Chunk:
        prefix = min(c for c, _ in row.reads) if share and row.shareable else 0
        return cls([row], row.width, len(row.reads), row.width, prefix, overhead)

    def with_row(self, row: ScoreRow, share: bool) -> _Chunk:
        share = share and row.shareable and self.rows[0].shareable
        first_read = min(c for c, _ in row.reads)
        prefix = min(self.prefix, first_read, _common(self.rows[-1].target_ids, row.target_ids)) if share else 0
        return _Chunk(
            [*self.rows, row],
            max(self.longest, row.width),
            self.reads + len(row.reads),
            self.real + row.width,
            prefix,
            self.overhead,
        )

    def _cost(self, skip: int) -> float:
        main = len(self.rows) * (self.longest - skip)
        return max(main, self.overhead) + (max(skip, self.overhead) if skip else 0)

    @property
    def skip(self) -> int:
        """Tokens run once as the shared prefix: 0 when that costs more than running them in every row."""
        return self.prefix if self.prefix > 1 and self._cost(self.prefix) < self._cost(0) else 0

    @property
    def cost(self) -> float:
        """What the chunk's forwards cost, in tokens: a forward of fewer than ``overhead`` tokens costs that many."""
        return self._cost(self.skip)

    def fits(self, budget: RowBudget) -> bool:
        n, width = len(self.rows), self.longest - self.skip
        dense = n * width <= (1 + MAX_PADDING) * (self.real - n * self.skip)
        return n * width <= budget.tokens and self.reads <= budget.logits and dense


def _row_chunks(
    rows: list[ScoreRow], budget: RowBudget, share: bool, overhead: float = 0.0
) -> Iterator[tuple[list[ScoreRow], int]]:
    """Consecutive groups of rows of one kind (scaled or not) within the budget's tokens and logits (reads), padded
    by at most :data:`MAX_PADDING`, with the prefix they share (``share``: a row joins a group only when that costs
    less than starting a new one). Yields ``(rows, shared prefix length)``."""
    chunk: _Chunk | None = None
    for row in rows:
        if chunk is None:
            chunk = _Chunk.of(row, share, overhead)
            continue
        grown = chunk.with_row(row, share)
        alone = _Chunk.of(row, share, overhead)
        kind = (row.scaled, share and row.shareable) == (chunk.rows[0].scaled, share and chunk.rows[0].shareable)
        worth = not (share and row.shareable) or grown.cost <= chunk.cost + alone.cost
        if grown.fits(budget) and worth and kind:
            chunk = grown
            continue
        yield chunk.rows, chunk.skip
        chunk = alone
    if chunk is not None:
        yield chunk.rows, chunk.skip
