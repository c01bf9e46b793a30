"""The one forward path: every forward over the model that attribution, step scores, contrast, evaluation and source
attribution run goes through :meth:`Scorer.forward`.

:class:`Scorer` wraps the port. Its :meth:`~Scorer.forward` runs one padded teacher-forced forward and returns logits
only where they are read (from a column on, or at given ``(row, column)`` pairs). :meth:`~Scorer.score_rows` serves
callers holding many rows of different lengths (perturbed copies of sequences, ablated contexts): it sorts them by
length, pads them, runs them in chunks bounded by two memory budgets (``rows x tokens`` and ``rows x positions`` of
logits), and applies a step function to the logits of each read. Rows that share prefixes (ablated contexts keeping
the same first sources) run on a plan of their prefix tree (:mod:`inseq.attr.prefix_tree`): each prefix worth it
runs once, from the cache of the prefix above it, and its key-value cache serves the rows below it.

Example:
    >>> import inseq
    >>> model = inseq.load_model(inseq.testing.get_tiny_model_path("gpt2"), "saliency")  # doctest: +SKIP
    >>> rows = [ScoreRow([5, 6, 7], reads=[(1, 7)]), ScoreRow([5, 9], reads=[(0, 9)])]  # doctest: +SKIP
    >>> Scorer(model).score_rows(rows, inseq.attr.step_functions.probability_fn, {})  # doctest: +SKIP
    tensor([0.0004, 0.0004])
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from .step_args import make_step_args

if TYPE_CHECKING:
    from .port import AttributionModelPort

#: Padding a chunk of rows that share no prefix may add, as a share of its real tokens (rows are sorted, so a new
#: chunk starts when the next row would pad the chunk beyond it).
MAX_PADDING = 0.1


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
        overhead_tokens: What a forward costs beyond its tokens, in tokens, for planning shared prefixes (None:
            :func:`forward_overhead` estimates it from the model).
    """

    port: AttributionModelPort
    n_forwards: int = field(default=0)
    overhead_tokens: float | None = None

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
        position_ids: torch.Tensor | None = None,
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
            past_key_values: Key-value cache of the rows' prefixes (decoder-only); ``target_mask`` then covers the
                prefix too.
            keep_cache: Return ``(logits, cache)``: the key-value cache of this forward, for later forwards.
            position_ids: ``(rows, len)`` positions of the inputs (decoder-only; None: after the cache, in order):
                for rows whose cached prefixes are shorter than the cache (padded within it).
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
            **({"position_ids": position_ids} if position_ids is not None else {}),
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
            share_prefixes: The rows that can (decoder-only, unscaled) run on a plan of their shared prefixes
                (:func:`~inseq.attr.prefix_tree.plan_prefixes`): a prefix worth it runs once and its key-value cache
                serves every row below it.
            progress: Called with the number of rows of each forward once it is done.
        """
        shared = [i for i, r in enumerate(rows) if share_prefixes and r.shareable]
        rest = sorted(
            set(range(len(rows))) - set(shared), key=lambda i: (rows[i].scaled, len(rows[i].reads) > 1, rows[i].width)
        )
        out: list[torch.Tensor | None] = [None] * len(rows)
        with torch.no_grad():
            if shared:
                from .shared_prefixes import score_shared  # it builds on this module

                overhead = self.overhead_tokens if self.overhead_tokens is not None else forward_overhead(self.port)
                cut = [_through_last_read(rows[i]) for i in shared]
                values = score_shared(self, cut, (fn, fn_kwargs), budget, overhead, progress)
                if values is None:  # the model cannot run rows after caches of other lengths: no sharing
                    rest = sorted([*rest, *shared], key=lambda i: (rows[i].scaled, rows[i].width))
                for i, v in zip(shared, values or ()):
                    out[i] = v
            for chunk in _row_chunks([rows[i] for i in rest], budget):
                picked, rest = rest[: len(chunk)], rest[len(chunk) :]
                for i, v in zip(picked, self._score_chunk(chunk, fn, fn_kwargs)):
                    out[i] = v
                if progress is not None:
                    progress(len(chunk))
        return out  # type: ignore[return-value]

    def _score_chunk(self, rows: list[ScoreRow], fn: Callable, fn_kwargs: dict[str, Any]) -> list[torch.Tensor]:
        """``fn`` at the reads of one forward of ``rows``."""
        port, device = self.port, self.port.device
        ids, mask = pad_rows([r.target_ids for r in rows], port.pad_token_id, device)
        embeds = _scaled_embeds(port, ids, [r.target_scale for r in rows], 0, True) if rows[0].scaled else None
        src_ids, src_mask, enc = None, None, None
        if rows[0].source_ids is not None:
            src_ids, src_mask = pad_rows([r.source_ids for r in rows], port.pad_token_id, device)
            if rows[0].scaled:
                src_embeds = _scaled_embeds(port, src_ids, [r.source_scale for r in rows], 0, False)
                enc = self.encode(embeds=src_embeds, mask=src_mask)
            else:
                enc = self.encode(ids=src_ids, mask=src_mask)
        which, cols, _ = read_index([r.reads for r in rows], device)
        logits = self.forward(
            target_mask=mask,
            target_ids=None if embeds is not None else ids,
            target_embeds=embeds,
            encoder_outputs=enc,
            source_mask=src_mask,
            logits_at=(which, cols),
        )
        return apply_step(port, logits, [r.reads for r in rows], ids, mask, (fn, fn_kwargs), src_ids, src_mask)


def read_index(reads: list[list[tuple[int, int]]], device: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(rows, columns, token ids)`` tensors of every row's ``(column, token_id)`` reads, flattened in order.

    Example:
        >>> [t.tolist() for t in read_index([[(1, 7)], [(0, 9), (1, 4)]], "cpu")]
        [[0, 1, 1], [1, 0, 1], [7, 9, 4]]
    """
    flat = [(j, c, t) for j, row in enumerate(reads) for c, t in row]
    return tuple(torch.tensor([x[k] for x in flat], dtype=torch.long, device=device) for k in range(3))  # type: ignore[return-value]


def apply_step(
    port: AttributionModelPort,
    logits: torch.Tensor,
    reads: list[list[tuple[int, int]]],
    ids: torch.Tensor,
    mask: torch.Tensor,
    step: tuple[Callable[..., torch.Tensor], dict[str, Any]],
    src_ids: torch.Tensor | None = None,
    src_mask: torch.Tensor | None = None,
) -> list[torch.Tensor]:
    """A step function at the ``(pairs, vocab)`` logits of every read: one ``(len(reads[j]),)`` tensor per row.

    Each read sees its row's padded target ids ``ids`` and a mask of its prefix (``mask`` up to the read column),
    and the source ids and mask of its row (encoder-decoder).

    Example:
        >>> apply_step(model, logits, [[(1, 7)]], ids, mask, (probability_fn, {}))  # doctest: +SKIP
        [tensor([0.0004])]
    """
    which, cols, tokens = read_index(reads, ids.device)
    prefix = mask[which] * (torch.arange(ids.shape[1], device=ids.device).unsqueeze(0) <= cols.unsqueeze(1))
    args = make_step_args(
        port,
        logits,
        tokens,
        decoder_input_ids=ids[which],
        decoder_attention_mask=prefix,
        encoder_input_ids=src_ids[which] if src_ids is not None else None,
        encoder_attention_mask=src_mask[which] if src_mask is not None else None,
    )
    fn, fn_kwargs = step
    values = fn(args, **fn_kwargs).reshape(-1).float().cpu()
    return list(values.split([len(r) for r in reads]))


def forward_overhead(port: AttributionModelPort) -> float:
    """What one forward costs beyond its tokens, in tokens: the time of a forward of one token over the time each
    further token adds. A forward reads every weight once (memory bound) and launches every module; a token adds
    two operations per weight (compute bound). Estimated from the model's size and device (CPU: 100 GFLOP/s, 10
    GB/s, 10 us a module; an accelerator: 100 TFLOP/s, 2 TB/s), within 8 and 4096. On a GPT-2-small-shaped model
    on one CPU thread this gives about 20 tokens, as measured (40 ms + 2 ms a token).

    Example:
        >>> forward_overhead(model)  # GPT-2 small on a CPU  # doctest: +SKIP
        21.1
    """
    module = port.torch_module
    embeddings = {id(p) for m in module.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters()}
    weights = [p for p in module.parameters() if id(p) not in embeddings]
    params = max(1, sum(p.numel() for p in weights))
    width = weights[0].element_size() if weights else 4
    fast = str(port.device).startswith(("cuda", "mps", "xpu", "npu"))
    flops, bandwidth, launch = (1e14, 2e12, 1e-5) if fast else (1e11, 1e10, 1e-5)
    fixed = width * params / bandwidth + launch * sum(1 for _ in module.modules())
    return min(4096.0, max(8.0, fixed / (2 * params / flops)))


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


def _through_last_read(row: ScoreRow) -> ScoreRow:
    """A shareable row without the tokens after its last read column (causal: they change no read logits)."""
    end = max(c for c, _ in row.reads) + 1
    return row if end >= len(row.target_ids) else ScoreRow(row.target_ids[:end], row.reads)


@dataclass
class _Chunk:
    """A growing group of rows of one forward, with what it holds."""

    rows: list[ScoreRow]
    longest: int
    reads: int
    real: int

    @classmethod
    def of(cls, row: ScoreRow) -> _Chunk:
        return cls([row], row.width, len(row.reads), row.width)

    def with_row(self, row: ScoreRow) -> _Chunk:
        return _Chunk(
            [*self.rows, row], max(self.longest, row.width), self.reads + len(row.reads), self.real + row.width
        )

    def fits(self, budget: RowBudget) -> bool:
        n, width = len(self.rows), self.longest
        dense = n * width <= (1 + MAX_PADDING) * self.real
        return n * width <= budget.tokens and self.reads <= budget.logits and dense


def _row_chunks(rows: list[ScoreRow], budget: RowBudget) -> Iterator[list[ScoreRow]]:
    """Consecutive groups of rows of one kind (scaled or not) within the budget's tokens and logits (reads), padded
    by at most :data:`MAX_PADDING`."""
    chunk: _Chunk | None = None
    for row in rows:
        if chunk is None:
            chunk = _Chunk.of(row)
            continue
        grown = chunk.with_row(row)
        if grown.fits(budget) and row.scaled == chunk.rows[0].scaled:
            chunk = grown
            continue
        yield chunk.rows
        chunk = _Chunk.of(row)
    if chunk is not None:
        yield chunk.rows
