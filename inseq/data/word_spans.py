"""Find word (or regex-delimited) spans in lists of token strings, for the ``subwords`` and ``split`` aggregators.

Example:
    >>> get_word_spans(["Hello", "Ġwor", "ld", "!"])
    [(1, 4)]
    >>> get_word_spans(["▁Hel", "lo", "▁world"])
    [(0, 2)]
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence

__all__ = ["AUTO_WORD_START_MARKERS", "get_split_spans", "get_word_spans", "groups_to_spans"]

# Prefixes that mark the first token of a word: GPT-2 byte-level space/newline, SentencePiece space, and raw
# whitespace (tokens that were already decoded).
AUTO_WORD_START_MARKERS: tuple[str, ...] = ("Ġ", "Ċ", "▁", " ", "\n", "\t")
_SPECIAL_TOKEN = re.compile(r"^(<\|[^|]*\|>|<[^<>\s]+>|\[[A-Z]+\])$")
_WORDPIECE_CONTINUATION = "##"


def groups_to_spans(starts: Sequence[bool]) -> list[tuple[int, int]]:
    """Turn per-token "starts a new group" flags into the ``(start, end)`` spans of groups longer than one token.

    Example:
        >>> groups_to_spans([True, False, True, True, False, False])
        [(0, 2), (3, 6)]
    """
    spans = []
    begin = 0
    for idx in range(1, len(starts) + 1):
        if idx == len(starts) or starts[idx]:
            if idx - begin > 1:
                spans.append((begin, idx))
            begin = idx
    return spans


def _is_standalone(token: str) -> bool:
    """Special tokens (``<s>``, ``<|endoftext|>``, ``[CLS]``) and pure newline tokens form words of their own."""
    return bool(_SPECIAL_TOKEN.match(token)) or (token != "" and token.strip("Ċ\n\r") == "")


def _auto_starts(tokens: Sequence[str]) -> list[bool] | None:
    has_prefix = any(t.startswith(AUTO_WORD_START_MARKERS) for t in tokens)
    has_wordpiece = any(t.startswith(_WORDPIECE_CONTINUATION) for t in tokens)
    if not has_prefix and not has_wordpiece:
        return None
    starts = []
    for idx, tok in enumerate(tokens):
        prev_standalone = idx > 0 and _is_standalone(tokens[idx - 1])
        if has_prefix:
            is_start = tok.startswith(AUTO_WORD_START_MARKERS)
        else:
            is_start = not tok.startswith(_WORDPIECE_CONTINUATION)
        starts.append(idx == 0 or is_start or prev_standalone or _is_standalone(tok))
    return starts


def get_word_spans(
    tokens: Sequence[str], special_chars: str | Sequence[str] | None = None, is_suffix_symbol: bool = False
) -> list[tuple[int, int]] | None:
    """Spans ``(start, end)`` (end exclusive) of words made of more than one token.

    Args:
        tokens: token strings.
        special_chars: word-boundary marker(s). When None, markers are detected automatically: GPT-2 ``Ġ``/``Ċ``,
            SentencePiece ``▁`` and leading whitespace start a word; WordPiece ``##`` continues one; special tokens
            such as ``<s>`` and newline tokens stand alone.
        is_suffix_symbol: the markers end a word (e.g. ``</w>``) instead of starting one.

    Returns:
        The spans, or None when no marker occurs in ``tokens`` (so no word boundary can be found).
    """
    if special_chars is None and not is_suffix_symbol:
        starts = _auto_starts(tokens)
    else:
        markers = (
            (special_chars,) if isinstance(special_chars, str) else tuple(special_chars or AUTO_WORD_START_MARKERS)
        )
        if is_suffix_symbol:
            if not any(t.endswith(markers) for t in tokens):
                return None
            starts = [idx == 0 or tokens[idx - 1].endswith(markers) for idx in range(len(tokens))]
        else:
            if not any(t.startswith(markers) for t in tokens):
                return None
            starts = [idx == 0 or t.startswith(markers) for idx, t in enumerate(tokens)]
    return None if starts is None else groups_to_spans(starts)


def get_split_spans(tokens: Sequence[str], split_pattern: str, split_mode: str = "single") -> list[tuple[int, int]]:
    """Spans of tokens delimited by regex matches on the concatenated token string.

    Args:
        tokens: token strings.
        split_pattern: regular expression; each match is a delimiter (matches may straddle tokens).
        split_mode: ``"single"`` (delimiters form their own spans), ``"start"`` (a delimiter starts the following
            span) or ``"end"`` (a delimiter ends the preceding span).

    Example:
        >>> get_split_spans(["a", "b", ".", "c", "d"], r"\\.", "end")
        [(0, 3), (3, 5)]
    """
    if split_mode not in ("single", "start", "end"):
        raise ValueError(f"split_mode must be 'single', 'start' or 'end', got {split_mode!r}.")
    offsets, text = [], ""
    for tok in tokens:
        offsets.append(len(text))
        text += tok
    boundaries = set()
    for match in re.finditer(split_pattern, text):
        if split_mode in ("single", "start"):
            boundaries.add(match.start())
        if split_mode in ("single", "end"):
            boundaries.add(match.end())
    starts = [idx == 0 for idx in range(len(tokens))]
    for char in boundaries:
        if 0 < char < len(text):
            starts[bisect.bisect_right(offsets, char) - 1] = True
    return groups_to_spans(starts)
