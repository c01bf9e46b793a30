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
stopped for every position, or after ``max_probe_steps`` steps.

Differences from inseq 0.7: replacements are drawn uniformly from the vocabulary without special tokens by default
(``token_sampler="uniform"``, offline); inseq 0.7 draws tokens with the same NLTK part-of-speech tag, available here
as ``token_sampler="pos"`` when ``nltk`` and its tagger data are installed locally (never downloaded). The estimator
of the importance is the difference of means described above; randomness comes from a ``torch.Generator`` seeded
with ``seed``, so equal seeds give equal scores.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..engine import AttributionContext, attributed_fn_values
from .feature_attribution import FeatureAttribution, MethodResult
from .ops.token_sampler import SAMPLERS, make_token_sampler

#: Upper bound on ``rows x positions`` of the logits of one perturbed forward.
_ROW_POSITION_BUDGET = 2048


class ReagentAttribution(FeatureAttribution):
    """ReAGent: model-agnostic attribution by replacing tokens with sampled tokens (see the module docstring).

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
        if token_sampler not in SAMPLERS:
            raise ValueError(f"token_sampler must be one of {SAMPLERS}, got {token_sampler!r}.")
        self.keep_top_n = keep_top_n
        self.keep_ratio = keep_ratio
        self.invert_keep = invert_keep
        self.top_k = stopping_condition_top_k
        self.replacing_ratio = replacing_ratio
        self.max_probe_steps = max_probe_steps
        self.num_probes = num_probes
        self.token_sampler = token_sampler
        self._sampler: Any = None

    def _get_sampler(self, ctx: AttributionContext) -> Any:
        if self._sampler is None:
            model = ctx.model
            vocab = model.model.get_input_embeddings().weight.shape[0]
            self._sampler = make_token_sampler(self.token_sampler, model.tokenizer, vocab, model.special_tokens_ids)
        return self._sampler

    def compute(self, ctx: AttributionContext, *, seed: int = 42, show_progress: bool = False) -> MethodResult:
        """Probe until every probe meets the stopping condition at every position (or ``max_probe_steps``).

        Args:
            ctx: The engine context.
            seed: Seed of the sampling generator (masks and replacement tokens).
            show_progress: Accepted for compatibility (the engine shows progress).
        """
        model, batch = ctx.model, ctx.batch
        enc_dec = batch.is_encoder_decoder
        sampler = self._get_sampler(ctx)
        generator = torch.Generator().manual_seed(int(seed))
        special = set(model.special_tokens_ids)
        # features: source tokens (encoder-decoder) then target tokens (when target attributions are wanted)
        sides = []
        if enc_dec:
            sides.append(("source", batch.source_ids.cpu(), batch.source_mask.cpu().bool()))
        if ctx.wants_target:
            sides.append(("target", batch.target_ids.cpu(), batch.target_mask.cpu().bool()))
        ids = torch.cat([s[1] for s in sides], dim=1)
        valid = torch.cat([s[2] for s in sides], dim=1)
        n_src = batch.source_ids.shape[1] if enc_dec else 0
        eligible = valid & ~torch.isin(ids, torch.tensor(sorted(special), dtype=torch.long))
        n, n_feat = ids.shape
        positions = ctx.positions.view(-1, 1)
        feat_pos = torch.arange(n_feat).view(1, -1) - n_src  # target index of a feature (negative: source)
        in_prefix = (feat_pos < positions) | (feat_pos < 0)  # (n_positions, n_feat)
        # pooled sums over probes and steps of delta when replaced / kept, per (example, position, feature)
        shape = (n, ctx.n_positions, n_feat)
        sum_rep, cnt_rep, sum_keep, cnt_keep = (torch.zeros(shape) for _ in range(4))
        probes = self.num_probes
        done = ~ctx.active.unsqueeze(0).expand(probes, -1, -1).clone()  # (probes, batch, n_positions)
        clean = attributed_fn_values(ctx)
        for _ in range(self.max_probe_steps):
            running = ~done  # (probes, batch, n_positions)
            mask = (torch.rand(probes, n, n_feat, generator=generator) < self.replacing_ratio) & eligible
            replaced = torch.where(mask, sampler.sample(ids.expand(probes, -1, -1), generator), ids)
            values = self._values(ctx, replaced, n_src)  # (probes, batch, n_positions)
            delta = (clean.unsqueeze(0) - values).nan_to_num() * running
            m = mask.unsqueeze(2).float() * running.unsqueeze(-1)
            k = (~mask).unsqueeze(2).float() * running.unsqueeze(-1)
            sum_rep += (delta.unsqueeze(-1) * m).sum(0)
            cnt_rep += m.sum(0)
            sum_keep += (delta.unsqueeze(-1) * k).sum(0)
            cnt_keep += k.sum(0)
            importance = _importance(sum_rep, cnt_rep, sum_keep, cnt_keep)
            done |= self._stops(ctx, ids, eligible & valid, in_prefix, importance, done, sampler, generator, n_src)
            if bool(done.all()):
                break
        scores = _importance(sum_rep, cnt_rep, sum_keep, cnt_keep) * (in_prefix.unsqueeze(0) & eligible.unsqueeze(1))
        hidden = model.model.get_input_embeddings().weight.shape[-1]
        result = MethodResult()
        if enc_dec:
            result.source = scores[..., :n_src].unsqueeze(-1).expand(-1, -1, -1, hidden).clone()
        if ctx.wants_target:
            result.target = scores[..., n_src:].unsqueeze(-1).expand(-1, -1, -1, hidden).clone()
        if ctx.progress is not None:
            ctx.progress(ctx.n_positions)
        return result

    def _values(self, ctx: AttributionContext, replaced: torch.Tensor, n_src: int) -> torch.Tensor:
        """``(probes, batch, n_positions)`` attributed function under each probe's replaced tokens."""
        batch = ctx.batch
        probes, n = replaced.shape[:2]
        p0, p1 = ctx.grid_start, int(ctx.positions[-1]) + 1
        per_eval = max(1, _ROW_POSITION_BUDGET // (n * (p1 - p0)))
        out = torch.zeros(probes, n, ctx.n_positions)
        with torch.no_grad():
            for first in range(0, probes, per_eval):
                group = replaced[first : first + per_eval]
                c = group.shape[0]
                src_ids, tgt_ids = self._split(ctx, group.flatten(0, 1), n_src, c)
                enc = ctx.scorer.encode(source_ids=src_ids, repeat=c) if batch.is_encoder_decoder else None
                embeds = ctx.model.embed_ids(tgt_ids, as_targets=True)
                values = ctx.scorer.score(p0, p1, repeat=c, target_embeds=embeds, encoder_outputs=enc)
                out[first : first + c] = values.float().cpu().view(c, n, -1)
        return out

    @staticmethod
    def _split(ctx: AttributionContext, rows: torch.Tensor, n_src: int, copies: int):
        """Source and target ids of ``rows`` (copies x batch) of features (source part only for encoder-decoder)."""
        batch = ctx.batch
        device = batch.target_ids.device
        src = rows[:, :n_src].to(device) if batch.is_encoder_decoder else None
        if ctx.wants_target:
            tgt = rows[:, n_src:].to(device)
        else:
            tgt = batch.target_ids.repeat(copies, 1)
        return src, tgt

    def _stops(
        self,
        ctx: AttributionContext,
        ids: torch.Tensor,
        eligible: torch.Tensor,
        in_prefix: torch.Tensor,
        importance: torch.Tensor,
        done: torch.Tensor,
        sampler: Any,
        generator: torch.Generator,
        n_src: int,
    ) -> torch.Tensor:
        """``(probes, batch, n_positions)``: the target stays in the top-k with only the kept tokens unchanged."""
        batch = ctx.batch
        probes, n = done.shape[:2]
        hits = torch.zeros_like(done)
        with torch.no_grad():
            for col, p in enumerate(ctx.positions.tolist()):
                if bool(done[:, :, col].all()):
                    continue
                can = eligible & in_prefix[col].unsqueeze(0)  # (batch, n_feat)
                score = importance[:, col].masked_fill(~can, float("-inf"))
                counts = can.sum(-1)
                keep = torch.zeros_like(can)
                for b in range(n):
                    n_keep = self.keep_top_n
                    if self.keep_ratio is not None:
                        n_keep = math.ceil(self.keep_ratio * int(counts[b]))
                    n_keep = min(n_keep, int(counts[b]))
                    if n_keep:
                        keep[b, score[b].topk(n_keep).indices] = True
                swap = can & (keep if self.invert_keep else ~keep)
                draws = sampler.sample(ids.expand(probes, -1, -1), generator)
                replaced = torch.where(swap.unsqueeze(0), draws, ids.unsqueeze(0))
                src_ids, tgt_ids = self._split(ctx, replaced.flatten(0, 1), n_src, probes)
                enc = ctx.scorer.encode(source_ids=src_ids, repeat=probes) if batch.is_encoder_decoder else None
                embeds = ctx.model.embed_ids(tgt_ids, as_targets=True)
                logits = ctx.scorer.logits(p, p + 1, target_embeds=embeds, encoder_outputs=enc, repeat=probes)
                logits = logits[:, 0].float()
                target = batch.target_ids[:, p].repeat(probes).to(logits.device)
                top = logits.topk(min(self.top_k, logits.shape[-1]), dim=-1).indices
                hits[:, :, col] = (top == target.unsqueeze(-1)).any(-1).view(probes, n).cpu()
        return hits


def _importance(sum_rep, cnt_rep, sum_keep, cnt_keep) -> torch.Tensor:
    """Mean delta when replaced minus mean delta when kept (0 where a side has no probe)."""
    rep = torch.where(cnt_rep > 0, sum_rep / cnt_rep.clamp_min(1), torch.zeros_like(sum_rep))
    kept = torch.where(cnt_keep > 0, sum_keep / cnt_keep.clamp_min(1), torch.zeros_like(sum_keep))
    return rep - kept
