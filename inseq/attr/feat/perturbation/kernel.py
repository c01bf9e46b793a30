"""The perturbed-forward kernel shared by occlusion, LIME and ReAGent.

Each of these methods builds perturbed copies of the batch (occluded windows, masked samples, probes with replaced
tokens) and needs the attributed function at every target position under each copy. With a causal decoder one
no-grad forward over a copy gives it at every position at once, and several copies travel in the same forward
(stacked along the rows: row ``r`` belongs to example ``r % batch``). :class:`PerturbedForward` runs them:

* how many copies share a forward (``perturbations_per_eval``, validated here once for the whole family; by default
  as many as the ``perturbed_rows`` memory budget allows, counting ``copies x batch x positions`` rows of logits);
* the positions of a forward are split further when even the requested copies would exceed that budget;
* the encoder runs once per group of perturbed sources, or once (cached) for the clean source.

Change the budget with :func:`inseq.utils.budgets.memory_budgets` (``perturbed_rows``).

Example:
    >>> PerturbationOptions(perturbations_per_eval=4).perturbations_per_eval
    4
    >>> PerturbationOptions(perturbations_per_eval=0)
    Traceback (most recent call last):
    ...
    inseq.utils.errors.InvalidArgumentError: perturbations_per_eval must be an int >= 1 or None, got 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from ....utils.budgets import get_budgets
from ....utils.checks import check_int

if TYPE_CHECKING:
    from ...engine import AttributionContext


@dataclass(frozen=True)
class PerturbationOptions:
    """Options every perturbation method accepts, validated once here.

    Attributes:
        perturbations_per_eval: Perturbed copies of the batch run in one forward; None: the memory budget decides.
    """

    perturbations_per_eval: int | None = None

    def __post_init__(self) -> None:
        check_int("perturbations_per_eval", self.perturbations_per_eval, minimum=1, allow_none=True)


@dataclass
class Perturbed:
    """``copies`` perturbed copies of the batch, stacked along the rows.

    Attributes:
        copies: Number of copies.
        target_embeds: ``(copies * batch, tgt_len, hidden)`` target embeddings.
        source_embeds: ``(copies * batch, src_len, hidden)`` perturbed source embeddings, or None.
        source_ids: ``(copies * batch, src_len)`` perturbed source ids, or None (both None: the clean source).
    """

    copies: int
    target_embeds: torch.Tensor
    source_embeds: torch.Tensor | None = None
    source_ids: torch.Tensor | None = None


class PerturbedForward:
    """Values of the attributed function under groups of perturbed copies of the batch (no gradients)."""

    def __init__(self, ctx: AttributionContext, options: PerturbationOptions | None = None) -> None:
        self.ctx = ctx
        self.options = options or PerturbationOptions()
        self._clean: dict[int, Any] = {}

    @property
    def copies_per_forward(self) -> int:
        """``perturbations_per_eval``, or as many copies as the ``perturbed_rows`` budget allows (at least one)."""
        if self.options.perturbations_per_eval is not None:
            return self.options.perturbations_per_eval
        return max(1, get_budgets().perturbed_rows // (self.ctx.batch.size * self.ctx.n_positions))

    def encode(self, group: Perturbed) -> Any:
        """Encoder outputs of a group: its perturbed source, or the clean source (cached per number of copies)."""
        if group.source_embeds is not None or group.source_ids is not None:
            return self.ctx.scorer.encode(group.source_embeds, repeat=group.copies, source_ids=group.source_ids)
        if group.copies not in self._clean:
            self._clean[group.copies] = self.ctx.scorer.encode(repeat=group.copies)
        return self._clean[group.copies]

    def values(self, group: Perturbed) -> torch.Tensor:
        """``(copies, batch, n_positions)`` attributed function at every grid position under each copy."""
        ctx, c = self.ctx, group.copies
        out = torch.empty(c, ctx.batch.size, ctx.n_positions)
        step = max(1, get_budgets().perturbed_rows // (c * ctx.batch.size))
        p0, end = ctx.grid_start, int(ctx.positions[-1]) + 1
        with torch.no_grad():
            enc = self.encode(group)
            for q0 in range(p0, end, step):
                q1 = min(end, q0 + step)
                scores = ctx.scorer.score(q0, q1, repeat=c, target_embeds=group.target_embeds, encoder_outputs=enc)
                out[:, :, ctx.grid_columns(q0, q1)] = scores.float().cpu().view(c, ctx.batch.size, -1)
        return out

    def map(self, total: int, build: Callable[[int, int], Perturbed]) -> torch.Tensor:
        """``(total, batch, n_positions)`` values of ``total`` copies, ``build(first, last)`` making each group."""
        out = torch.empty(total, self.ctx.batch.size, self.ctx.n_positions)
        per = self.copies_per_forward
        for first in range(0, total, per):
            last = min(total, first + per)
            with torch.no_grad():
                group = build(first, last)
            out[first:last] = self.values(group)
        return out

    def logits_at(self, position: int, group: Perturbed) -> torch.Tensor:
        """``(copies * batch, vocab)`` float logits predicting target ``position`` under each copy."""
        with torch.no_grad():
            enc = self.encode(group)
            logits = self.ctx.scorer.logits(
                position, position + 1, target_embeds=group.target_embeds, encoder_outputs=enc, repeat=group.copies
            )
        return logits[:, 0].float()
