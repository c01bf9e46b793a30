"""ReAGent (Zhao and Shan, 2024): replace tokens with sampled ones and credit the change of the prediction.

Each probing step draws, for every one of ``num_probes`` probes, a random subset of the input tokens (each token
with probability ``replacing_ratio``; special tokens never), replaces them with sampled tokens and runs the model.
Because the output predicting position ``p`` depends only on the tokens before it, one perturbed forward per probe
gives the change ``delta = f(x) - f(perturbed)`` of the attributed function at every target position. A token's
importance at position ``p`` is the mean ``delta`` over the probes where it was replaced minus the mean over those
where it was kept (pooled over all probes and steps).

After every step a probe stops for a position when its prediction survives the removal of its unimportant tokens:
the ``keep_top_n`` most important tokens (or ``ceil(keep_ratio * n)``) are kept, all other tokens of the prefix are
replaced by sampled tokens, and the target must stay in the ``stopping_condition_top_k`` most likely tokens
(``invert_keep=True`` keeps the other tokens and replaces the top ones instead). Probing ends when every probe has
stopped for every position, or after ``max_probe_steps`` steps, or once ``stall_patience`` steps (default 100)
finished no probe and left the ranking unchanged (a degenerate input, e.g. only unknown tokens; a warning says so).

Differences from inseq 0.7: replacements are drawn uniformly from the vocabulary without special tokens by default
(``token_sampler="uniform"``, offline); inseq 0.7 draws tokens with the same NLTK part-of-speech tag, available here
as ``token_sampler="pos"`` when ``nltk`` and its tagger data are installed locally (never downloaded). The estimator
of the importance is the difference of means described above; randomness comes from a ``torch.Generator`` seeded
with ``seed``, so equal seeds give equal scores.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import torch

from ...engine import AttributionContext, attributed_fn_values
from ..base import MethodResult
from .kernel import PerturbationOptions, Perturbed, PerturbedForward
from .occlusion import PerturbationAttribution
from .token_sampler import SAMPLERS, make_token_sampler


class ReagentAttribution(PerturbationAttribution):
    """ReAGent: model-agnostic attribution by replacing tokens with sampled tokens (see the module docstring).

    Load options (``inseq.load_model(name, "reagent", ...)``):
        keep_top_n: Tokens kept by the rationalizer at each probe step (0: use ``keep_ratio``).
        keep_ratio: Share of the tokens kept instead of ``keep_top_n`` (None: use ``keep_top_n``).
        invert_keep: Keep the least important tokens instead.
        stopping_condition_top_k: A probe stops when the target token is in the top ``k`` predictions.
        replacing_ratio: Share of the tokens replaced in each probe step.
        max_probe_steps: Upper bound on the probe steps (a warning names the positions that did not stop).
        num_probes: Probes run together.
        token_sampler: ``"uniform"`` (offline) or ``"pos"`` (NLTK part-of-speech sampler, needs its data locally).
        stall_patience: Probe steps without progress before the run ends with a warning.

    Args (of ``attribute()``): ``seed`` (masks and replacement tokens) and ``perturbations_per_eval`` (probes in one
    forward; default: the ``perturbed_rows`` memory budget).

    Example:
        >>> import inseq
        >>> model = inseq.load_model("gpt2", "reagent", keep_top_n=3, num_probes=8)  # doctest: +SKIP
        >>> out = model.attribute("Hello world", "Hello world, how are you?", seed=1)  # doctest: +SKIP
    """

    method_name = "reagent"
    output_kind = "granular"

    def __init__(
        self,
        attribution_model: Any = None,
        keep_top_n: int = 5,
        keep_ratio: float | None = None,
        invert_keep: bool = False,
        stopping_condition_top_k: int = 3,
        replacing_ratio: float = 0.3,
        max_probe_steps: int = 3000,
        num_probes: int = 16,
        token_sampler: str = "uniform",
        stall_patience: int = 100,
        **kwargs: Any,
    ) -> None:
        super().__init__(attribution_model, **kwargs)
        if not isinstance(keep_top_n, int) or keep_top_n < 0:
            raise ValueError(f"keep_top_n must be a non-negative integer, got {keep_top_n!r}.")
        if keep_ratio is not None and not 0 < keep_ratio <= 1:
            raise ValueError(f"keep_ratio must be None or in (0, 1], got {keep_ratio!r}.")
        if not isinstance(stopping_condition_top_k, int) or stopping_condition_top_k < 1:
            raise ValueError(f"stopping_condition_top_k must be a positive integer, got {stopping_condition_top_k!r}.")
        if not 0 < replacing_ratio < 1:
            raise ValueError(f"replacing_ratio must be in (0, 1), got {replacing_ratio!r}.")
        if not isinstance(max_probe_steps, int) or max_probe_steps < 1:
            raise ValueError(f"max_probe_steps must be a positive integer, got {max_probe_steps!r}.")
        if not isinstance(num_probes, int) or num_probes < 1:
            raise ValueError(f"num_probes must be a positive integer, got {num_probes!r}.")
        if not isinstance(stall_patience, int) or stall_patience < 1:
            raise ValueError(f"stall_patience must be a positive integer, got {stall_patience!r}.")
        if token_sampler not in SAMPLERS:
            raise ValueError(f"token_sampler must be one of {SAMPLERS}, got {token_sampler!r}.")
        self.keep_top_n = keep_top_n
        self.keep_ratio = keep_ratio
        self.invert_keep = invert_keep
        self.top_k = stopping_condition_top_k
        self.replacing_ratio = replacing_ratio
        self.max_probe_steps = max_probe_steps
        self.num_probes = num_probes
        self.stall_patience = stall_patience
        self.token_sampler = token_sampler
        self._sampler: Any = None

    def _get_sampler(self, ctx: AttributionContext) -> Any:
        if self._sampler is None:
            model = ctx.model
            vocab = model.vocabulary_embeddings.shape[0]

            def words() -> list[str]:
                return model.convert_ids_to_tokens(list(range(vocab)), skip_special_tokens=False, decode_tokens=True)

            self._sampler = make_token_sampler(self.token_sampler, words, vocab, model.special_tokens_ids)
        return self._sampler

    def compute(
        self,
        ctx: AttributionContext,
        *,
        seed: int = 42,
        perturbations_per_eval: int | None = None,
        show_progress: bool = False,
    ) -> MethodResult:
        """Probe until every probe meets the stopping condition at every position (or ``max_probe_steps``).

        Args:
            ctx: The engine context.
            seed: Seed of the sampling generator (masks and replacement tokens).
            perturbations_per_eval: Probes run in one forward (default: as many as fit the ``perturbed_rows``
                memory budget).
            show_progress: Accepted for compatibility (the engine shows progress).
        """
        forward = PerturbedForward(ctx, PerturbationOptions(perturbations_per_eval))
        sampler = self._get_sampler(ctx)
        generator = torch.Generator().manual_seed(int(seed))
        feats = _Features.of(ctx)
        n, n_feat = feats.ids.shape
        # pooled sums over probes and steps of delta when replaced / kept, per (example, position, feature)
        sums = [torch.zeros(n, ctx.n_positions, n_feat) for _ in range(4)]
        probes = self.num_probes
        done = ~ctx.active.unsqueeze(0).expand(probes, -1, -1).clone()  # (probes, batch, n_positions)
        clean = attributed_fn_values(ctx)
        stall = _Stall(self.stall_patience)
        for _ in range(self.max_probe_steps):
            running = ~done  # (probes, batch, n_positions)
            mask = (torch.rand(probes, n, n_feat, generator=generator) < self.replacing_ratio) & feats.eligible
            replaced = torch.where(mask, sampler.sample(feats.ids.expand(probes, -1, -1), generator), feats.ids)
            values = forward.map(probes, lambda a, b, r=replaced: feats.perturbed(ctx, r[a:b]))
            delta = (clean.unsqueeze(0) - values).nan_to_num() * running
            for i, chosen in enumerate((mask, ~mask)):
                weight = chosen.unsqueeze(2).float() * running.unsqueeze(-1)
                sums[2 * i] += (delta.unsqueeze(-1) * weight).sum(0)
                sums[2 * i + 1] += weight.sum(0)
            importance = _importance(*sums)
            done |= self._stops(forward, feats, importance, done, sampler, generator)
            if bool(done.all()) or stall.update(done, importance):
                break
        if not bool(done.all()):
            _warn_unfinished(done, ctx, stall.stalled)
        scores = _importance(*sums) * (feats.in_prefix.unsqueeze(0) & feats.eligible.unsqueeze(1))
        hidden = ctx.model.vocabulary_embeddings.shape[-1]
        result = MethodResult()
        if feats.n_src:
            result.source = scores[..., : feats.n_src].unsqueeze(-1).expand(-1, -1, -1, hidden).clone()
        if ctx.wants_target:
            result.target = scores[..., feats.n_src :].unsqueeze(-1).expand(-1, -1, -1, hidden).clone()
        if ctx.progress is not None:
            ctx.progress(ctx.n_positions)
        return result

    def _keep_mask(self, can: torch.Tensor, score: torch.Tensor) -> torch.Tensor:
        """``(batch, n_feat)`` the ``keep_top_n`` (or ``keep_ratio``) most important candidates of each example."""
        keep = torch.zeros_like(can)
        counts = can.sum(-1)
        for b in range(can.shape[0]):
            n_keep = self.keep_top_n
            if self.keep_ratio is not None:
                n_keep = math.ceil(self.keep_ratio * int(counts[b]))
            n_keep = min(n_keep, int(counts[b]))
            if n_keep:
                keep[b, score[b].topk(n_keep).indices] = True
        return keep

    def _stops(
        self,
        forward: PerturbedForward,
        feats: _Features,
        importance: torch.Tensor,
        done: torch.Tensor,
        sampler: Any,
        generator: torch.Generator,
    ) -> torch.Tensor:
        """``(probes, batch, n_positions)``: the target stays in the top-k with only the kept tokens unchanged."""
        ctx = forward.ctx
        probes, n = done.shape[:2]
        hits = torch.zeros_like(done)
        for col, p in enumerate(ctx.positions.tolist()):
            if bool(done[:, :, col].all()):
                continue
            can = feats.eligible & feats.valid & feats.in_prefix[col].unsqueeze(0)  # (batch, n_feat)
            keep = self._keep_mask(can, importance[:, col].masked_fill(~can, float("-inf")))
            swap = can & (keep if self.invert_keep else ~keep)
            draws = sampler.sample(feats.ids.expand(probes, -1, -1), generator)
            replaced = torch.where(swap.unsqueeze(0), draws, feats.ids.unsqueeze(0))
            logits = forward.logits_at(p, feats.perturbed(ctx, replaced))
            target = ctx.batch.target_ids[:, p].repeat(probes).to(logits.device)
            top = logits.topk(min(self.top_k, logits.shape[-1]), dim=-1).indices
            hits[:, :, col] = (top == target.unsqueeze(-1)).any(-1).view(probes, n).cpu()
        return hits


@dataclass
class _Features:
    """The tokens ReAGent may replace: source tokens (when there is a source), then target tokens (when wanted).

    Attributes:
        ids: ``(batch, n_feat)`` ids of the features.
        valid: ``(batch, n_feat)`` not padding.
        eligible: ``(batch, n_feat)`` valid and not a special token.
        in_prefix: ``(n_positions, n_feat)`` whether a feature is visible from each grid position.
        n_src: Number of source features (0 without a source).
    """

    ids: torch.Tensor
    valid: torch.Tensor
    eligible: torch.Tensor
    in_prefix: torch.Tensor
    n_src: int

    @classmethod
    def of(cls, ctx: AttributionContext) -> _Features:
        batch = ctx.batch
        sides = []
        if batch.source_ids is not None:
            sides.append((batch.source_ids.cpu(), batch.source_mask.cpu().bool()))
        if ctx.wants_target:
            sides.append((batch.target_ids.cpu(), batch.target_mask.cpu().bool()))
        ids = torch.cat([s[0] for s in sides], dim=1)
        valid = torch.cat([s[1] for s in sides], dim=1)
        special = torch.tensor(sorted(set(ctx.model.special_tokens_ids)), dtype=torch.long)
        n_src = batch.source_ids.shape[1] if batch.source_ids is not None else 0
        feat_pos = torch.arange(ids.shape[1]).view(1, -1) - n_src  # target index of a feature (negative: source)
        in_prefix = (feat_pos < ctx.positions.view(-1, 1)) | (feat_pos < 0)
        return cls(ids, valid, valid & ~torch.isin(ids, special), in_prefix, n_src)

    def perturbed(self, ctx: AttributionContext, replaced: torch.Tensor) -> Perturbed:
        """The copies of the batch holding ``(copies, batch, n_feat)`` replaced features."""
        batch, copies = ctx.batch, replaced.shape[0]
        device = batch.target_ids.device
        rows = replaced.flatten(0, 1)
        src = rows[:, : self.n_src].to(device) if self.n_src else None
        tgt = rows[:, self.n_src :].to(device) if ctx.wants_target else batch.target_ids.repeat(copies, 1)
        with torch.no_grad():
            embeds = ctx.model.embed_ids(tgt, as_targets=True)
        return Perturbed(copies, target_embeds=embeds, source_ids=src)


def _importance(sum_rep, cnt_rep, sum_keep, cnt_keep) -> torch.Tensor:
    """Mean delta when replaced minus mean delta when kept (0 where a side has no probe)."""
    rep = torch.where(cnt_rep > 0, sum_rep / cnt_rep.clamp_min(1), torch.zeros_like(sum_rep))
    kept = torch.where(cnt_keep > 0, sum_keep / cnt_keep.clamp_min(1), torch.zeros_like(sum_keep))
    return rep - kept


class _Stall:
    """Detects a probe run that makes no progress: no probe finished and the ranking did not change.

    Without it a degenerate input (e.g. a source made only of unknown tokens, where no replacement changes the
    prediction) runs all ``max_probe_steps`` steps.
    """

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.steps = 0
        self.stalled = False
        self._done = -1
        self._ranking: torch.Tensor | None = None

    def update(self, done: torch.Tensor, importance: torch.Tensor) -> bool:
        """Record one step; True once ``patience`` steps passed without progress."""
        ranking = importance.argsort(-1)
        same = self._ranking is not None and torch.equal(ranking, self._ranking) and int(done.sum()) == self._done
        self.steps = self.steps + 1 if same else 0
        self._done, self._ranking = int(done.sum()), ranking
        self.stalled = self.steps >= self.patience
        return self.stalled


def _warn_unfinished(done: torch.Tensor, ctx: AttributionContext, stalled: bool) -> None:
    positions = (~done).any(0).any(0).nonzero().flatten() + ctx.grid_start
    why = "it made no progress" if stalled else "max_probe_steps was reached"
    warnings.warn(
        f"reagent stopped before every probe met its stopping condition ({why}) at target positions "
        f"{positions.tolist()}: the scores there rest on fewer probes (e.g. inputs whose tokens do not affect the "
        "prediction).",
        stacklevel=3,
    )
