"""Perturbed inputs of the faithfulness evaluation, as rows of the engine's scorer.

A :class:`Perturbation` says which input tokens of one sequence are removed (hard removal) or which embedding
elements are dropped (soft removal). Perturbations are deduplicated into rows: one row is one perturbed copy of a
sequence, and every generation step that needs that same perturbation reads its probability from the same forward
(e.g. leave-one-out rows and the unperturbed row serve every step at once). The rows go through the engine's one
forward path (:meth:`inseq.attr.scorer.Scorer.score_rows`: sorted by length, padded, chunked within the
``evaluation_tokens`` and ``evaluation_logits`` budgets).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from ..attr.scorer import RowBudget, Scorer, ScoreRow
from ..utils.budgets import get_budgets

if TYPE_CHECKING:
    from ..models.attribution_model import AttributionModel

#: A feature is an input token: ``("source", i)`` or ``("target", i)``.
Feature = tuple[str, int]
#: How a removed token is removed.
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
    row: ScoreRow | None = None
    read_positions: list[int] = field(default_factory=list)


@dataclass
class PerturbedRows:
    """Collects ``(perturbation, target position)`` requests, then scores them all through the engine's scorer.

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
        """Score every pending row through the engine's scorer and store the values."""
        pending = [self._build(row) for row in self._rows.values() if row.positions and row.row is None]
        if not pending:
            return
        budgets = get_budgets()
        scorer = Scorer(self.model)
        values = scorer.score_rows(
            [r.row for r in pending],
            self.fn,
            self.fn_kwargs,
            RowBudget(budgets.evaluation_tokens, budgets.evaluation_logits),
            progress=progress,
        )
        self.n_forwards += scorer.n_forwards
        for r, row_values in zip(pending, values):
            for p, v in zip(r.read_positions, row_values.tolist()):
                self._values[(r.pert, p)] = v

    # -------------------------------------------------------------------------------------------------- building
    def _build(self, row: _Row) -> _Row:
        pert, seq = row.pert, self.inputs[row.pert.seq]
        removed_t = {i for side, i in pert.removed if side == "target"}
        removed_s = {i for side, i in pert.removed if side == "source"}
        keep = dict(pert.soft)
        target, kept = self._apply(seq.target_ids[: max(row.positions)], removed_t)
        columns = {p: sum(1 for i in kept if i < p) - 1 for p in row.positions}
        if min(columns.values()) < 0:  # every token before a position was deleted: start from a filler token
            filler = self.model.bos_token_id if getattr(self.model, "bos_token_id", None) is not None else None
            target = [self.model.unk_token_id if filler is None else filler, *target]
            kept = [-1, *kept]
            columns = {p: c + 1 for p, c in columns.items()}
        source, kept_s = None, []
        if seq.source_ids is not None:
            source, kept_s = self._apply(seq.source_ids, removed_s)
            if not source:
                source, kept_s = [self.model.unk_token_id], [-1]
        row.read_positions = sorted(columns)
        row.row = ScoreRow(
            target,
            [(columns[p], seq.target_ids[p]) for p in row.read_positions],
            source,
            self._scale(keep, kept, "target", pert) if keep else None,
            self._scale(keep, kept_s, "source", pert) if keep and source is not None else None,
        )
        return row

    def _scale(self, keep: dict[Feature, float], kept: list[int], side: str, pert: Perturbation) -> torch.Tensor:
        """``(len(kept), hidden)`` Bernoulli masks keeping each element of token ``i`` with ``keep[(side, i)]``."""
        hidden = self.model.vocabulary_embeddings.shape[-1]
        probs = torch.tensor([keep.get((side, i), 1.0) for i in kept], dtype=torch.float32)
        gen = torch.Generator().manual_seed(content_seed(pert.sample, side))
        return torch.bernoulli(probs.unsqueeze(-1).expand(len(kept), hidden), generator=gen)

    def _apply(self, ids: list[int], removed: set[int]) -> tuple[list[int], list[int]]:
        """Perturbed ids and, for each of them, the original index it comes from."""
        if self.removal == "delete":
            kept = [i for i in range(len(ids)) if i not in removed]
            return [ids[i] for i in kept], kept
        unk = self.model.unk_token_id
        return [unk if i in removed else t for i, t in enumerate(ids)], list(range(len(ids)))


def content_seed(seed: int, *parts: Any) -> int:
    """A deterministic seed from ``seed`` and the content ``parts`` (independent of batch composition).

    Example:
        >>> content_seed(0, "target") == content_seed(0, "target")
        True
    """
    return zlib.crc32(repr((seed, *parts)).encode()) & 0x7FFFFFFF
