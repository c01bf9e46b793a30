"""Alignments between an original and a contrastive target (inseq 0.7 path ``inseq.utils.alignment_utils``).

An alignment is a list of ``(original_position, contrast_position)`` pairs. inseq 0.7 could also compute them with
a multilingual aligner model (``"auto"``, LaBSE from the Hub); here automatic alignment is not available offline,
so ``"auto"`` raises :class:`~inseq.utils.errors.MissingAlignmentsError` and explicit pairs must be given.

Example:
    >>> get_adjusted_alignments([(0, 0), (2, 3)], target_tokens=["a", "b", "c"], contrast_tokens=["a", "x", "b", "c"],
    ...                         fill_missing=True)
    [(0, 0), (1, 2), (2, 3)]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from .errors import MissingAlignmentsError

__all__ = [
    "AlignedSequences",
    "AlignmentMethod",
    "add_alignment_extra_positions",
    "get_adjusted_alignments",
    "get_aligned_idx",
]

Alignment = list[tuple[int, int]]


class AlignmentMethod(Enum):
    """How alignments are obtained: only explicit pairs are supported here (``AUTO`` needs the Hub)."""

    AUTO = "auto"


@dataclass
class AlignedSequences:
    """Two token sequences and their alignment.

    Example:
        >>> AlignedSequences(["a"], ["b"], [(0, 0)]).reverse_alignments
        [(0, 0)]
    """

    source_tokens: Sequence[str]
    target_tokens: Sequence[str]
    alignments: Alignment

    @property
    def reverse_alignments(self) -> Alignment:
        """The pairs as ``(target_position, source_position)``, sorted."""
        return sorted((b, a) for a, b in self.alignments)


def get_aligned_idx(a_idx: int, alignments: Sequence[tuple[int, int]] | None) -> int:
    """The contrast position aligned with original position ``a_idx`` (the smallest if several; ``a_idx`` itself
    without alignments).

    Raises:
        MissingAlignmentsError: when ``alignments`` has no pair for ``a_idx``.

    Example:
        >>> get_aligned_idx(1, [(0, 0), (1, 3), (1, 2)]), get_aligned_idx(4, None)
        (2, 4)
    """
    if not alignments:
        return a_idx
    matches = [b for a, b in alignments if a == a_idx]
    if not matches:
        raise MissingAlignmentsError(
            f"No alignment for original position {a_idx} in {list(alignments)!r}: add an ({a_idx}, contrast_position) "
            "pair to contrast_targets_alignments."
        )
    return min(matches)


def add_alignment_extra_positions(
    alignments: Sequence[tuple[int, int]], extra_positions: Sequence[tuple[int, int]]
) -> Alignment:
    """Shift every pair by ``(offset_original, offset_contrast)`` and prepend the pairs of the skipped positions.

    ``extra_positions`` holds ``(start_original, start_contrast)`` offsets (e.g. for a BOS token or a prompt): the
    positions before the offsets are aligned one to one.

    Example:
        >>> add_alignment_extra_positions([(0, 0), (1, 2)], [(1, 1)])
        [(0, 0), (1, 1), (2, 3)]
    """
    out = list(alignments)
    for start_a, start_b in extra_positions:
        out = [(i, i) for i in range(min(start_a, start_b))] + [(a + start_a, b + start_b) for a, b in out]
    return sorted(set(out))


def get_adjusted_alignments(
    alignments: Sequence[tuple[int, int]] | str | None,
    target_tokens: Sequence[str] | None = None,
    contrast_tokens: Sequence[str] | None = None,
    fill_missing: bool = False,
    special_tokens: Sequence[str] = (),
    start_pos: int = 0,
    end_pos: int | None = None,
) -> Alignment:
    """Check and complete alignments between a target and a contrastive target.

    Args:
        alignments: ``(original, contrast)`` pairs, ``None`` (one-to-one, needs ``fill_missing``) or ``"auto"``.
        target_tokens: Original target tokens (bounds the original positions).
        contrast_tokens: Contrastive target tokens (bounds the contrast positions).
        fill_missing: Align each original position without a pair with the offset of the next aligned pair (of
            the previous one at the end; one to one when there is no pair at all).
        special_tokens: Tokens whose positions are never aligned (dropped from the result).
        start_pos: First original position kept.
        end_pos: End (exclusive) of the original positions kept (default: all).

    Raises:
        MissingAlignmentsError: for ``"auto"`` (an aligner model from the Hub is needed).
        ValueError: for a pair outside the tokens.

    Example:
        >>> pairs = [(0, 0), (2, 1)]
        >>> get_adjusted_alignments(pairs, target_tokens=["a", "b", "c"], contrast_tokens=["a", "c"], fill_missing=True)
        [(0, 0), (1, 0), (2, 1)]
    """
    if isinstance(alignments, str):
        raise MissingAlignmentsError(
            f"alignments={alignments!r} needs a multilingual aligner model from the Hub, which is not available; "
            "pass explicit (original_position, contrast_position) pairs."
        )
    n_orig = len(target_tokens) if target_tokens is not None else None
    n_contrast = len(contrast_tokens) if contrast_tokens is not None else None
    pairs = sorted({(int(a), int(b)) for a, b in (alignments or ())})
    for a, b in pairs:
        if (n_orig is not None and not 0 <= a < n_orig) or (n_contrast is not None and not 0 <= b < n_contrast):
            raise ValueError(f"Alignment {(a, b)!r} is outside the tokens ({n_orig} original, {n_contrast} contrast).")
    end = (
        end_pos
        if end_pos is not None
        else (n_orig if n_orig is not None else max((a for a, _ in pairs), default=-1) + 1)
    )
    if fill_missing:
        pairs = _fill_missing(pairs, start_pos, end, n_contrast)
    special = set(special_tokens)
    return [
        (a, b)
        for a, b in pairs
        if start_pos <= a < end
        and not (target_tokens is not None and target_tokens[a] in special)
        and not (contrast_tokens is not None and contrast_tokens[b] in special)
    ]


def _fill_missing(pairs: Alignment, start: int, end: int, n_contrast: int | None) -> Alignment:
    """Give each unaligned original position the offset of the next aligned pair (else of the previous one)."""
    aligned = dict(reversed(pairs))
    filled = list(pairs)
    for a in range(start, end):
        if a in aligned:
            continue
        after = [(x, y) for x, y in pairs if x > a]
        before = [(x, y) for x, y in pairs if x < a]
        ref = after[0] if after else (before[-1] if before else (a, a))
        b = a + ref[1] - ref[0]
        if 0 <= b and (n_contrast is None or b < n_contrast):
            filled.append((a, b))
    return sorted(set(filled))
