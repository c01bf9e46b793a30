"""Attention weights of every layer and head: the ``attention`` method of the internals family.

One clean forward over the whole (truncated) sequence: with a causal decoder the query at position ``p - 1`` only
sees tokens ``< p``, so its attention row is what attributing target position ``p`` from its prefix needs.
Attention modules are found by inspecting the model, so no per-architecture table is needed.
"""

from __future__ import annotations

import torch

from ...engine import AttributionContext
from ..base import FeatureAttribution, MethodResult


def _grid_rows(
    scores: torch.Tensor, ctx: AttributionContext, length: int, held: torch.Tensor | None = None
) -> torch.Tensor:
    """Rows ``p - 1`` of ``(batch, q, k, *extra)`` scores, as a ``(batch, n_positions, length, *extra)`` grid.

    ``held``: the query positions the ``q`` axis holds (None: every position from 0).
    """
    wanted = ctx.positions - 1
    if held is not None:
        index = {int(q): i for i, q in enumerate(held)}
        wanted = torch.tensor([index[int(q)] for q in wanted], dtype=torch.long)
    picked = scores[:, wanted]
    out = torch.full((*picked.shape[:2], length, *picked.shape[3:]), float("nan"))
    out[:, :, : picked.shape[2]] = picked
    return out


def _per_example_square(scores: torch.Tensor, lengths: list[int]) -> list[torch.Tensor]:
    """``(batch, q, k, *extra)`` -> per example ``(k, q, *extra)`` (key first, like attributions), unpadded."""
    return [scores[b, :n, :n].transpose(0, 1).contiguous() for b, n in enumerate(lengths)]


class InternalsAttribution(FeatureAttribution):
    """Family base of the methods reading model internals; not a method itself."""


class AttentionWeightsAttribution(InternalsAttribution):
    """Attention weights of every layer and head, read from one clean forward.

    Only the queries predicting the attributed positions are scored, layer by layer, against every key: the model
    runs SDPA for its outputs and no ``L x L`` map is built (transformers' attention interface; models without it run
    eager attention for the call).

    Decoder-only: target scores are the self-attention of the query predicting each position, ``[tgt, n_steps,
    layers, heads]``. Encoder-decoder: source scores are the cross-attention, target scores (``attribute_target``)
    the decoder self-attention; ``sequence_scores`` hold ``encoder_self_attentions`` ``[src, src, layers, heads]``
    (key first, then query) and, without ``attribute_target``, ``decoder_self_attentions``. Step scores can be
    requested alongside. The model's attention implementation is restored afterwards.

    Example:
        >>> import inseq
        >>> model = inseq.load_model("gpt2", "attention")  # doctest: +SKIP
        >>> out = model.attribute("Hello", "Hello world!", step_scores=["probability"])  # doctest: +SKIP
        >>> out[0].target_attributions.shape  # [tgt, n_steps, layers, heads]  # doctest: +SKIP
        torch.Size([3, 2, 12, 12])
    """

    method_name = "attention"
    output_kind = "multidim"
    num_extra_dims = 2
    uses_attributed_fn = False

    def compute(self, ctx: AttributionContext) -> MethodResult:
        batch = ctx.batch
        # only the queries predicting the attributed positions, unless the whole decoder square is returned
        rows = (ctx.positions - 1).to(torch.long) if ctx.wants_target else None
        maps = ctx.model.attention_maps(batch, int(ctx.positions[-1]), rows=rows)
        result = MethodResult()
        if maps.cross is not None:
            result.source = _grid_rows(maps.cross, ctx, batch.source_ids.shape[1], maps.rows)
        if ctx.wants_target:
            result.target = _grid_rows(maps.decoder_self, ctx, batch.target_ids.shape[1], maps.rows)
        else:
            ends = [e - 1 for e in batch.attr_end]
            result.sequence_scores["decoder_self_attentions"] = _per_example_square(maps.decoder_self, ends)
        if maps.encoder_self is not None:
            result.sequence_scores["encoder_self_attentions"] = _per_example_square(
                maps.encoder_self, batch.source_lengths
            )
        if ctx.progress is not None:
            ctx.progress(ctx.n_positions)
        return result
