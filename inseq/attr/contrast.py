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
    from ..data.batch import AttributionBatch, Example
    from .port import AttributionModelPort
    from .runner import AttributionRequest


def _select(name: str, values: Any, indices: list[int], total: int) -> list | None:
    if values is None:
        return None
    values = [values] if isinstance(values, str) else list(values)
    if len(values) != total:
        raise ValueError(
            f"{name} has {len(values)} texts but {total} inputs are attributed: pass one contrastive text per input."
        )
    return [values[i] for i in indices]


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
    model: AttributionModelPort,
    batch: AttributionBatch,
    request: AttributionRequest,
    examples: list[Example],
    indices: list[int],
) -> ContrastData | None:
    """Run the contrastive forward of a batch (no gradient) and align it with the position grid."""
    args = request.contrast_args
    total = len(request.input_texts)
    targets = _select("contrast_targets", args.get("contrast_targets"), indices, total)
    sources = _select("contrast_sources", args.get("contrast_sources"), indices, total)
    if targets is None and sources is None:
        return None
    if sources is not None and not model.is_encoder_decoder:
        raise ValueError("contrast_sources is only supported for encoder-decoder models; use contrast_targets.")
    contrast_examples = model.contrast_examples(examples, sources, targets, request.skip_special_tokens)
    contrast_batch = model.build_batch(contrast_examples, None, None, False)
    positions = torch.arange(batch.grid_start, batch.grid_end)
    length = contrast_batch.target_ids.shape[1]
    with torch.no_grad():
        enc = model.encode_source(ids=contrast_batch.source_ids, mask=contrast_batch.source_mask)
        logits = model.forward_logits(
            target_embeds=None,
            target_ids=contrast_batch.target_ids[:, : length - 1],
            target_mask=contrast_batch.target_mask[:, : length - 1],
            encoder_outputs=enc,
            source_mask=contrast_batch.source_mask,
            logits_from=0,
        )
    grid_logits = torch.zeros(batch.size, len(positions), logits.shape[-1], device=logits.device)
    grid_ids = torch.zeros(batch.size, len(positions), dtype=torch.long)
    for b, ex in enumerate(contrast_examples):
        orig_len = len(examples[b].target_ids)
        mapping = _alignment_map(
            args.get("contrast_targets_alignments"), indices[b], total, orig_len, len(ex.target_ids)
        )
        for j, p in enumerate(positions.tolist()):
            c = mapping.get(p, min(p, len(ex.target_ids) - 1))
            grid_logits[b, j] = logits[b, c - 1]
            grid_ids[b, j] = ex.target_ids[c]
    return ContrastData(
        logits=grid_logits,
        target_ids=grid_ids.to(logits.device),
        force_inputs=bool(args.get("contrast_force_inputs", False)),
        has_targets=targets is not None,
    )


def contrast_token_labels(
    model: AttributionModelPort, batch: AttributionBatch, contrast: ContrastData | None, contrast_args: dict[str, Any]
) -> list[dict[int, TokenWithId]] | None:
    """Target tokens rendered ``"contrast → original"`` (id -1) where the contrastive target differs."""
    if contrast is None or not contrast.has_targets:
        return None
    labels = []
    for b in range(batch.size):
        current = {}
        for j, p in enumerate(range(batch.grid_start, batch.grid_end)):
            if p >= len(batch.target_tokens[b]):
                continue
            orig = batch.target_tokens[b][p]
            cid = int(contrast.target_ids[b, j])
            if cid != orig.id:
                ctok = model.convert_ids_to_tokens([cid], skip_special_tokens=False)[0]
                current[p] = TokenWithId(f"{ctok} → {orig.token}", -1)
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
