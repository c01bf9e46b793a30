"""LIME on the perturbed-forward kernel: one forward per sample serves all target positions; a fit per position.

inseq 0.7 ran Captum's ``LimeBase`` on the input embeddings of each step: every token is masked with probability
``mask_prob`` (special tokens never, by design), each sample is weighted by how many input elements it leaves
unchanged, and a ``sklearn.linear_model.Ridge()`` is fit with the flattened perturbed embeddings as features, so
there is one coefficient per (token, embedding dimension). The same is done here on samples shared by all positions
of a batch.
"""

from __future__ import annotations

from typing import Any

import torch

from ....utils.budgets import announce_forwards
from ....utils.checks import check_spans
from ...engine import AttributionContext
from ..base import MethodResult
from .kernel import PerturbationOptions, Perturbed, PerturbedForward
from .occlusion import PerturbationAttribution


def lime_masks(
    maskable: torch.Tensor,
    n_samples: int,
    mask_prob: float,
    generator: torch.Generator,
    spans: list[tuple[int, int]] | None = None,
) -> torch.Tensor:
    """``(n_samples, batch, len)`` boolean masks: each maskable token is masked with probability ``mask_prob``;
    the tokens of each ``(start, end)`` span in ``spans`` share one draw (masked together, maskable ones only).

    Example:
        >>> m = lime_masks(torch.tensor([[True, False]]), 1000, 0.3, torch.Generator().manual_seed(0))
        >>> bool(m[..., 1].any()), 0.25 < float(m[..., 0].float().mean()) < 0.35
        (False, True)
        >>> m = lime_masks(torch.ones(1, 4, dtype=torch.bool), 50, 0.5, torch.Generator().manual_seed(0), [(1, 3)])
        >>> bool((m[..., 1] == m[..., 2]).all()), bool((m[..., 0] == m[..., 1]).all())
        (True, False)
    """
    draws = torch.rand(n_samples, *maskable.shape, generator=generator)
    for start, end in spans or []:
        draws[..., start:end] = draws[..., start : start + 1]
    return (draws < mask_prob) & maskable.unsqueeze(0)


def lime_surrogate(
    features: torch.Tensor, values: torch.Tensor, unchanged: torch.Tensor, alpha: float = 1.0
) -> torch.Tensor:
    """Fit inseq 0.7's LIME surrogate and return its ``(len, hidden)`` coefficients.

    Args:
        features: ``(n_samples, len, hidden)`` perturbed input embeddings of the attributed tokens.
        values: ``(n_samples,)`` attributed function on each sample.
        unchanged: ``(n_samples,)`` number of unchanged tokens of each sample; the sample weight is the number of
            unchanged input elements (``unchanged * hidden``), as inseq's similarity kernel counts them.
        alpha: ``Ridge`` regularisation (inseq 0.7: sklearn's default, 1.0).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> emb = torch.randn(3, 4, generator=g, dtype=torch.float64)
        >>> keep = torch.rand(40, 3, generator=g) > 0.3
        >>> feats = torch.where(keep.unsqueeze(-1), emb, torch.zeros(4, dtype=torch.float64))
        >>> coef = lime_surrogate(feats, 2.0 * keep[:, 0].double(), keep.sum(-1))
        >>> coef.shape, bool(coef[0].norm() > coef[1:].norm(dim=-1).max())
        (torch.Size([3, 4]), True)
    """
    from sklearn.linear_model import Ridge

    n, length, hidden = features.shape
    weights = unchanged.double() * hidden
    ridge = Ridge(alpha=alpha)
    ridge.fit(
        features.reshape(n, -1).double().numpy(),
        values.double().numpy(),
        sample_weight=weights.numpy(),
    )
    return torch.from_numpy(ridge.coef_).reshape(length, hidden).float()


class LimeAttribution(PerturbationAttribution):
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
        spans: Any = None,
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
            spans: ``(start, end)`` token ranges (end exclusive) of the attributed input (the source of an
                encoder-decoder, else the target, prompt included), one list for the batch: the tokens of a span are
                masked together in each sample (one draw per span), others one by one. The surrogate keeps one
                coefficient per token; the number of forwards is still ``n_samples``. Spans must not overlap.
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
        checked = None if spans is None else check_spans(spans, int(valid.sum(-1).min()))
        masked = lime_masks(valid & ~special, n_samples, mask_prob, torch.Generator().manual_seed(seed), checked)
        longest = max(int(batch.target_ids.shape[1]), int(ids.shape[1]))
        announce_forwards("lime", n_samples * batch.size, longest, hint="Lower n_samples for fewer forwards. ")

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
