"""inseq 0.7's helpers building and slicing batches: texts to an encoded and embedded :class:`Batch`, and a
contrastive batch cut at a generation step.

Example:
    >>> import torch
    >>> from inseq.data.batch import DecoderOnlyBatch
    >>> ids = torch.tensor([[5, 6, 7]])
    >>> batch = DecoderOnlyBatch(ids, torch.ones_like(ids), ids, [[]], [1], [3], prompt_lengths=[1])
    >>> prefix, next_ids = slice_batch_from_position(batch, 2)
    >>> prefix.target_ids.tolist(), next_ids.tolist()
    ([[5, 6]], [7])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch

from ..utils.alignment_utils import get_aligned_idx
from ..utils.typing import TextInput
from .batch import AttributionBatch, Batch, BatchEmbedding, BatchEncoding

__all__ = ["FeatureAttributionInput", "get_batch_from_inputs", "slice_batch_from_position"]

#: What an attribution accepts as inputs: texts, an encoding or an embedded batch.
FeatureAttributionInput = TextInput | BatchEncoding | Batch


def get_batch_from_inputs(
    attribution_model: Any,
    inputs: FeatureAttributionInput,
    include_eos_baseline: bool = False,
    as_targets: bool = False,
    skip_special_tokens: bool = False,
) -> Batch:
    """Encode (texts) and embed (texts or an encoding) ``inputs`` with ``attribution_model``, baseline included.

    Args:
        attribution_model: A loaded model (its ``encode``, ``embed_ids`` and ``baseline_ids`` are used).
        inputs: Texts, a :class:`BatchEncoding` or a :class:`Batch` (returned unchanged).
        include_eos_baseline: Use UNK in the baseline at end-of-sequence positions too.
        as_targets: Encode as target texts (encoder-decoder models: target side).
        skip_special_tokens: Encode without the tokenizer's special tokens.

    Raises:
        TypeError: for inputs of another type.

    Example:
        >>> batch = get_batch_from_inputs(model, ["Hello world"])  # model = inseq.load_model(...)  # doctest: +SKIP
        >>> batch.input_ids.shape  # doctest: +SKIP
        torch.Size([1, 2])
    """
    if isinstance(inputs, Batch):
        return inputs
    if isinstance(inputs, str) or (isinstance(inputs, Sequence) and all(isinstance(t, str) for t in inputs)):
        encoding = attribution_model.encode(
            inputs,
            as_targets=as_targets,
            return_baseline=True,
            include_eos_baseline=include_eos_baseline,
            add_special_tokens=not skip_special_tokens,
        )
    elif isinstance(inputs, BatchEncoding):
        encoding = inputs
    else:
        raise TypeError(f"inputs must be texts, a BatchEncoding or a Batch, got {type(inputs).__name__}.")
    if encoding.baseline_ids is None:
        baseline = attribution_model.baseline_ids(encoding.input_ids, include_eos_baseline, as_targets=as_targets)
        encoding = dataclasses.replace(encoding, baseline_ids=baseline)
    with torch.no_grad():
        embeds = attribution_model.embed_ids(encoding.input_ids, as_targets=as_targets)
        baseline_embeds = attribution_model.embed_ids(encoding.baseline_ids, as_targets=as_targets)
    return Batch(encoding, BatchEmbedding(embeds, baseline_embeds))


def slice_batch_from_position(
    batch: AttributionBatch, curr_idx: int, alignments: Sequence[Sequence[tuple[int, int]]] | None = None
) -> tuple[AttributionBatch, torch.Tensor]:
    """The batch cut before target position ``curr_idx`` and the target ids at that position.

    With ``alignments`` (one list of ``(original, contrast)`` pairs per example), ``curr_idx`` is an original
    position and each example is cut at its aligned position (all aligned positions must be equal, so that the cut
    batch stays rectangular).

    Raises:
        ValueError: for a position outside the targets or alignments giving different cuts.

    Example:
        >>> from inseq.data.batch import DecoderOnlyBatch
        >>> ids = torch.tensor([[5, 6, 7, 8]])
        >>> b = DecoderOnlyBatch(ids, torch.ones_like(ids), ids, [[]], [1], [4], prompt_lengths=[1])
        >>> slice_batch_from_position(b, 1, alignments=[[(1, 3)]])[1].tolist()
        [8]
    """
    positions = {get_aligned_idx(curr_idx, alignments[i] if alignments else None) for i in range(batch.size)}
    if len(positions) != 1:
        raise ValueError(f"The alignments cut the examples at different positions {sorted(positions)}.")
    pos = positions.pop()
    length = batch.target_ids.shape[1]
    if not 0 <= pos < length:
        raise ValueError(f"Position {pos} is outside the targets (valid: 0..{length - 1}).")
    target_ids = batch.target_ids[:, pos]
    sliced = dataclasses.replace(
        batch,
        target_ids=batch.target_ids[:, :pos],
        target_mask=batch.target_mask[:, :pos],
        target_baseline_ids=batch.target_baseline_ids[:, :pos],
        target_tokens=[tokens[:pos] for tokens in batch.target_tokens],
        attr_start=[min(s, pos) for s in batch.attr_start],
        attr_end=[min(e, pos) for e in batch.attr_end],
    )
    return sliced, target_ids
