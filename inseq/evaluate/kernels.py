"""Perturbed inputs and the batched teacher-forced forwards that score them.

A :class:`Perturbation` says which input tokens of one sequence are removed (hard removal) or which embedding
elements are dropped (soft removal). Perturbations are deduplicated into rows: one row is one perturbed copy of a
sequence, and every generation step that needs that same perturbation reads its probability from the same forward
(e.g. leave-one-out rows and the unperturbed row serve every step at once). Rows of all sequences are sorted by length
and run in chunks whose size is bounded by the engine's token budgets.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import torch

from ..attr.step_functions import StepFunctionArgs
from ..utils.budgets import get_budgets

if TYPE_CHECKING:
    from ..models.attribution_model import AttributionModel

#: A feature is an input token: ``("source", i)`` or ``("target", i)``.
Feature = tuple[str, int]
#: Upper bound on the (row x position) logit vectors one forward keeps (4 x the engine's no-grad chunks of 256).
REMOVAL_MODES = ("baseline", "delete")


@dataclass(frozen=True)
class Perturbation:
    """A perturbed copy of sequence ``seq``.

    Attributes:
        seq: Index of the sequence in the evaluated output.
        removed: Features removed (replaced by the baseline token or deleted, depending on the removal mode).
        soft: Soft removal: ``(feature, keep_probability)`` pairs; each embedding element of a listed feature is kept
            with that probability (Zhao and Aletras, 2023).
        sample: Seed of the soft mask, derived from the sequence content by the metric so that a sequence gets the same
            masks whether it is evaluated alone or in a batch.
    """

    seq: int
    removed: frozenset[Feature] = frozenset()
    soft: tuple[tuple[Feature, float], ...] = ()
    sample: int = 0


@dataclass
class SequenceInputs:
    """Token ids of one evaluated sequence (``source_ids`` is None for decoder-only models)."""

    target_ids: list[int]
    source_ids: list[int] | None = None


@dataclass
class _Row:
    pert: Perturbation
    positions: set[int] = field(default_factory=set)
    target: list[int] = field(default_factory=list)
    source: list[int] | None = None
    columns: dict[int, int] = field(default_factory=dict)
    target_keep: list[float] | None = None
    source_keep: list[float] | None = None

    @property
    def length(self) -> int:
        return len(self.target)


@dataclass
class RowRunner:
    """Collects ``(perturbation, target position)`` requests, then scores them all in batched forwards.

    Args:
        model: The attribution model.
        inputs: Token ids of every sequence.
        fn: The step function to read (e.g. probability), applied to the logits predicting each position.
        fn_kwargs: Its keyword arguments.
        removal: ``"baseline"`` (replace by the baseline token) or ``"delete"`` (drop the token).
    """

    model: AttributionModel
    inputs: list[SequenceInputs]
    fn: Callable[..., torch.Tensor]
    fn_kwargs: dict[str, Any]
    removal: str = "baseline"
    _rows: dict[Perturbation, _Row] = field(default_factory=dict)
    _values: dict[tuple[Perturbation, int], float] = field(default_factory=dict)
    n_forwards: int = 0

    def request(self, pert: Perturbation, position: int) -> None:
        """Ask for the function value at target ``position`` under ``pert``."""
        self._rows.setdefault(pert, _Row(pert)).positions.add(position)

    def value(self, pert: Perturbation, position: int) -> float:
        """The value computed by :meth:`run` (raises KeyError when it was never requested)."""
        return self._values[(pert, position)]

    @property
    def n_rows(self) -> int:
        """Number of distinct perturbed rows requested so far."""
        return len(self._rows)

    def run(self, progress: Callable[[int], None] | None = None) -> None:
        """Run every pending row (in chunks within the token budgets) and store the values."""
        rows = [self._build(row) for row in self._rows.values() if row.positions and not row.columns]
        # rows reading one position apart from rows reading many: a chunk computes logits from its first read on
        rows.sort(
            key=lambda r: (bool(r.target_keep or r.source_keep), len(r.columns) > 1, r.length, len(r.source or ()))
        )
        with torch.no_grad():
            for chunk in _chunks(rows):
                self._run_chunk(chunk)
                self.n_forwards += 1
                if progress is not None:
                    progress(len(chunk))

    # -------------------------------------------------------------------------------------------------- building
    def _build(self, row: _Row) -> _Row:
        pert, seq = row.pert, self.inputs[row.pert.seq]
        removed_t = {i for side, i in pert.removed if side == "target"}
        removed_s = {i for side, i in pert.removed if side == "source"}
        keep = dict(pert.soft)
        end = max(row.positions)
        row.target, kept = self._apply(seq.target_ids[:end], removed_t)
        for p in row.positions:
            row.columns[p] = sum(1 for i in kept if i < p) - 1
        if min(row.columns.values()) < 0:  # every token before a position was deleted: start from a filler token
            filler = self.model.bos_token_id if getattr(self.model, "bos_token_id", None) is not None else None
            row.target = [self.model.unk_token_id if filler is None else filler, *row.target]
            kept = [-1, *kept]
            row.columns = {p: c + 1 for p, c in row.columns.items()}
        if keep:
            row.target_keep = [keep.get(("target", i), 1.0) for i in kept]
        if seq.source_ids is not None:
            row.source, kept_s = self._apply(seq.source_ids, removed_s)
            if not row.source:
                row.source, kept_s = [self.model.unk_token_id], [-1]
            if keep:
                row.source_keep = [keep.get(("source", i), 1.0) for i in kept_s]
        return row

    def _apply(self, ids: list[int], removed: set[int]) -> tuple[list[int], list[int]]:
        """Perturbed ids and, for each of them, the original index it comes from."""
        if self.removal == "delete":
            kept = [i for i in range(len(ids)) if i not in removed]
            return [ids[i] for i in kept], kept
        unk = self.model.unk_token_id
        return [unk if i in removed else t for i, t in enumerate(ids)], list(range(len(ids)))

    # -------------------------------------------------------------------------------------------------- running
    def _run_chunk(self, rows: list[_Row]) -> None:
        model = self.model
        pad = model.pad_token_id if model.pad_token_id is not None else 0
        device = model.device
        ids, mask = _pad([r.target for r in rows], pad, device)
        first = min(min(r.columns.values()) for r in rows)
        soft = any(r.target_keep or r.source_keep for r in rows)
        embeds = _soft_embeds(model, ids, [r.target_keep for r in rows], rows, "target", True) if soft else None
        enc, src_mask = None, None
        if model.is_encoder_decoder:
            src, src_mask = _pad([r.source for r in rows], pad, device)
            if soft:
                src_embeds = _soft_embeds(model, src, [r.source_keep for r in rows], rows, "source", False)
                enc = model.encode_source(embeds=src_embeds, mask=src_mask)
            else:
                enc = model.encode_source(ids=src, mask=src_mask)
        logits = model.forward_logits(
            target_embeds=embeds,
            target_ids=None if soft else ids,
            target_mask=mask,
            encoder_outputs=enc,
            source_mask=src_mask,
            logits_from=first,
        )
        reads = [(r, j, p, c) for j, r in enumerate(rows) for p, c in sorted(r.columns.items())]
        target_ids = torch.tensor([self.inputs[r.pert.seq].target_ids[p] for r, _, p, _ in reads], device=device)
        which = torch.tensor([j for _, j, _, _ in reads], device=device)
        cols = torch.tensor([c for _, _, _, c in reads], device=device)
        picked = logits[which, cols - first]
        prefix = mask[which] * (torch.arange(ids.shape[1], device=device).unsqueeze(0) <= cols.unsqueeze(1))
        args = StepFunctionArgs(
            attribution_model=model,
            forward_output=SimpleNamespace(logits=picked.unsqueeze(1)),
            target_ids=target_ids,
            decoder_input_ids=ids[which],
            decoder_attention_mask=prefix,
        )
        if model.is_encoder_decoder:
            args.encoder_input_ids = src[which]
            args.encoder_attention_mask = src_mask[which]
        values = self.fn(args, **self.fn_kwargs).reshape(-1).float().cpu().tolist()
        for (r, _, p, _), v in zip(reads, values):
            self._values[(r.pert, p)] = v


def _pad(rows: list[list[int]], pad: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    length = max(len(r) for r in rows)
    ids = torch.full((len(rows), length), pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, : len(r)] = 1
    return ids.to(device), mask.to(device)


def _soft_embeds(
    model: AttributionModel,
    ids: torch.Tensor,
    keeps: list[list[float] | None],
    rows: list[_Row],
    side: str,
    as_targets: bool,
) -> torch.Tensor:
    """Embeddings of ``ids`` with each element of row ``j``, token ``i`` kept with probability ``keeps[j][i]``."""
    embeds = model.embed_ids(ids, as_targets=as_targets) if as_targets else model.embed_ids(ids)
    masks = torch.ones_like(embeds)
    for j, (keep, row) in enumerate(zip(keeps, rows)):
        if not keep:
            continue
        gen = torch.Generator().manual_seed(content_seed(row.pert.sample, side))
        probs = torch.tensor(keep, dtype=torch.float32).unsqueeze(-1).expand(len(keep), embeds.shape[-1])
        masks[j, : len(keep)] = torch.bernoulli(probs, generator=gen).to(masks)
    return embeds * masks


def _chunks(rows: list[_Row]) -> Iterable[list[_Row]]:
    """Consecutive groups of rows within the ``evaluation_tokens`` and ``evaluation_logits`` budgets."""
    budgets = get_budgets()
    chunk: list[_Row] = []
    longest, first = 0, None
    for row in rows:
        lo = min(row.columns.values())
        new_longest = max(longest, row.length, len(row.source or ()))
        new_first = lo if first is None else min(first, lo)
        span = new_longest - new_first
        soft = bool(row.target_keep or row.source_keep)
        same_kind = not chunk or bool(chunk[0].target_keep or chunk[0].source_keep) == soft
        fits = (len(chunk) + 1) * new_longest <= budgets.evaluation_tokens and (
            len(chunk) + 1
        ) * span <= budgets.evaluation_logits
        if chunk and not (fits and same_kind):
            yield chunk
            chunk, new_longest, new_first = [], max(row.length, len(row.source or ())), lo
        chunk.append(row)
        longest, first = new_longest, new_first
    if chunk:
        yield chunk


def content_seed(seed: int, *parts: Any) -> int:
    """A deterministic seed from ``seed`` and the content ``parts`` (independent of batch composition)."""
    return zlib.crc32(repr((seed, *parts)).encode()) & 0x7FFFFFFF
