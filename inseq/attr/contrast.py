"""Contrastive inputs: the second forward pass that contrastive step functions compare against.

``contrast_targets`` replace the target (for decoder-only models, the whole sequence), ``contrast_sources`` the
source (encoder-decoder only). Each original target position ``p`` is aligned with a contrast position; by default
the two targets are right-aligned (identical when they have the same length), and explicit
``contrast_targets_alignments`` pairs ``(original_position, contrast_position)`` override that.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from ..utils.errors import MissingAlignmentsError
from ..utils.typing import TokenWithId
from .engine import ContrastData

if TYPE_CHECKING:
    from ..data.batch import AttributionBatch
    from .scorer import Scorer


def _alignment_map(spec: Any, index: int, n_inputs: int, orig_len: int, contrast_len: int) -> dict[int, int]:
    """Map original target positions to contrast positions (right-aligned by default)."""
    offset = contrast_len - orig_len
    mapping = {p: min(max(p + offset, 1), contrast_len - 1) for p in range(orig_len)}
    if spec is None:
        return mapping
    if spec == "auto":
        raise MissingAlignmentsError(
            "contrast_targets_alignments='auto' needs a multilingual word aligner model "
            "('sentence-transformers/LaBSE'), which is not available offline. Pass explicit alignments as a list "
            "of (original_position, contrast_position) pairs instead."
        )
    pairs = spec
    if pairs and isinstance(pairs[0], list | tuple) and pairs[0] and isinstance(pairs[0][0], list | tuple):
        if len(pairs) != n_inputs:
            raise ValueError(f"contrast_targets_alignments has {len(pairs)} lists but there are {n_inputs} inputs.")
        pairs = pairs[index]
    for pair in pairs:
        if len(pair) != 2:
            raise ValueError(f"Each alignment must be an (original, contrast) pair of positions, got {pair!r}.")
        orig, contrast = int(pair[0]), int(pair[1])
        if not (0 <= orig < orig_len and 0 <= contrast < contrast_len):
            raise ValueError(
                f"Alignment {pair!r} is outside the targets: original positions go up to {orig_len - 1}, contrast "
                f"positions up to {contrast_len - 1}."
            )
        mapping[orig] = contrast
    return mapping


def build_contrast(
    forward_path: Scorer,
    batch: AttributionBatch,
    contrast_batch: AttributionBatch | None,
    contrast_args: dict[str, Any],
    indices: list[int],
    n_inputs: int,
) -> ContrastData | None:
    """Run the contrastive forward of a batch (no gradient) and align it with the position grid.

    Args:
        forward_path: The scorer the forward goes through.
        batch: The attributed batch.
        contrast_batch: The same examples with their contrastive sources and/or targets (None: not contrastive).
        contrast_args: ``contrast_targets``, ``contrast_targets_alignments``, ``contrast_force_inputs``, ...
        indices: Index of each example of the batch among the ``n_inputs`` inputs of the call.
        n_inputs: Number of inputs of the call (alignments may be given per input).
    """
    if contrast_batch is None:
        return None
    positions = torch.arange(batch.grid_start, batch.grid_end)
    length = contrast_batch.target_ids.shape[1]
    with torch.no_grad():
        enc = forward_path.encode(ids=contrast_batch.source_ids, mask=contrast_batch.source_mask)
        logits = forward_path.forward(
            target_ids=contrast_batch.target_ids[:, : length - 1],
            target_mask=contrast_batch.target_mask[:, : length - 1],
            encoder_outputs=enc,
            source_mask=contrast_batch.source_mask,
        )
    grid_logits = torch.zeros(batch.size, len(positions), logits.shape[-1], device=logits.device)
    grid_ids = torch.zeros(batch.size, len(positions), dtype=torch.long)
    spec = contrast_args.get("contrast_targets_alignments")
    for b in range(batch.size):
        orig_len, contrast_len = batch.target_lengths[b], contrast_batch.target_lengths[b]
        mapping = _alignment_map(spec, indices[b], n_inputs, orig_len, contrast_len)
        for j, p in enumerate(positions.tolist()):
            c = mapping.get(p, min(p, contrast_len - 1))
            grid_logits[b, j] = logits[b, c - 1]
            grid_ids[b, j] = contrast_batch.target_ids[b, c]
    return ContrastData(
        logits=grid_logits,
        target_ids=grid_ids.to(logits.device),
        force_inputs=bool(contrast_args.get("contrast_force_inputs", False)),
        has_targets=contrast_args.get("contrast_targets") is not None,
    )


def contrast_token_labels(
    batch: AttributionBatch, contrast_batch: AttributionBatch | None, contrast: ContrastData | None
) -> list[dict[int, TokenWithId]] | None:
    """Target tokens rendered ``"contrast → original"`` (id -1) where the contrastive target differs."""
    if contrast is None or contrast_batch is None or not contrast.has_targets:
        return None
    labels = []
    for b in range(batch.size):
        current = {}
        tokens = {t.id: t.token for t in contrast_batch.target_tokens[b]}
        for j, p in enumerate(range(batch.grid_start, batch.grid_end)):
            if p >= len(batch.target_tokens[b]):
                continue
            orig = batch.target_tokens[b][p]
            cid = int(contrast.target_ids[b, j])
            if cid != orig.id:
                current[p] = TokenWithId(f"{tokens[cid]} → {orig.token}", -1)
        labels.append(current)
    return labels


def join_token_ids(
    tokens: Sequence[Sequence[str]],
    ids: Sequence[Sequence[int]],
    contrast_tokens: Sequence[Sequence[str]] | None = None,
    contrast_targets_alignments: Sequence[Sequence[tuple[int, int]]] | None = None,
) -> list[list[TokenWithId]]:
    """Pair tokens with their ids; where a contrastive token differs, render ``"contrast → token"`` with id -1.

    Example:
        >>> join_token_ids([["a", "b"]], [[1, 2]], contrast_tokens=[["a", "c"]])
        [[TokenWithId(token='a', id=1), TokenWithId(token='c → b', id=-1)]]
    """
    out = []
    for i, (seq_tokens, seq_ids) in enumerate(zip(tokens, ids)):
        joined = [TokenWithId(str(t), int(j)) for t, j in zip(seq_tokens, seq_ids)]
        if contrast_tokens is not None:
            pairs = contrast_targets_alignments[i] if contrast_targets_alignments else None
            mapping = dict(pairs) if pairs else {p: p for p in range(len(joined))}
            for pos, cpos in mapping.items():
                if pos < len(joined) and cpos < len(contrast_tokens[i]) and contrast_tokens[i][cpos] != joined[pos]:
                    joined[pos] = TokenWithId(f"{contrast_tokens[i][cpos]} → {joined[pos].token}", -1)
        out.append(joined)
    return out
