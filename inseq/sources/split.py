"""Splitting a context into sources (sentences, paragraphs, lines, words), keeping each one's character span.

No model or download is needed: sentences are found by rules, documented in :func:`split_sentences`. A context given
as a list of strings is taken as its sources, joined with a separator.

Example:
    >>> [s.text for s in split_sources("Mary has a cup. John has a hat!", "sentence")]
    ['Mary has a cup.', 'John has a hat!']
    >>> split_sources("a b", "word")[1]
    Source(text='b', start=2, end=3, part=0)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..utils.errors import InvalidArgumentError

SOURCE_TYPES = ("sentence", "paragraph", "line", "word")

#: Words that end with a period without ending a sentence (compared without the period, case-insensitively).
ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st vs etc e.g i.e cf al fig no vol inc ltd co corp dept est approx jan feb mar apr jun "
    "jul aug sep sept oct nov dec mt ft".split()
)
_END = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s)")


@dataclass(frozen=True)
class Source:
    """One source: its text and where it lies.

    Attributes:
        text: The source's text.
        start: Character offset of its first character in its part (the context, or a message's content).
        end: Character offset just after its last character.
        part: Which text it comes from: 0 for a context string, the message index for chat input.

    Example:
        >>> Source("John hat", 9, 17).end - Source("John hat", 9, 17).start
        8
    """

    text: str
    start: int
    end: int
    part: int = 0


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text``.

    Rules: a line break always ends a sentence; inside a line, a sentence ends after ``.``, ``!`` or ``?`` (and any
    closing quotes or brackets) followed by white space, unless the word before a period is a known abbreviation
    (:data:`ABBREVIATIONS`) or a single letter (an initial), or the next word starts with a lowercase letter.
    White space between sentences belongs to none of them.

    Example:
        >>> text = "Dr. Smith arrived. He sat down."
        >>> [text[a:b] for a, b in split_sentences(text)]
        ['Dr. Smith arrived.', 'He sat down.']
    """
    spans: list[tuple[int, int]] = []
    for line_start, line_end in _lines(text):
        line = text[line_start:line_end]
        start = 0
        for match in _END.finditer(line):
            end = match.end()
            if _continues(line, match.start(), end):
                continue
            spans.append(_strip(text, line_start + start, line_start + end))
            start = end
        if line[start:].strip():
            spans.append(_strip(text, line_start + start, line_end))
    return [s for s in spans if s[1] > s[0]]


def _continues(line: str, dot: int, end: int) -> bool:
    """Whether the sentence goes on after the punctuation at ``dot``."""
    word = line[:dot].rsplit(maxsplit=1)[-1] if line[:dot].split() else ""
    if line[dot] == "." and (word.lower().rstrip(".") in ABBREVIATIONS or (len(word) == 1 and word.isalpha())):
        return True
    following = line[end:].lstrip()
    return bool(following) and following[0].islower()


def _lines(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for match in re.finditer(r"\r\n|\r|\n", text):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    return [s for s in spans if text[s[0] : s[1]].strip()]


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def split_spans(text: str, source_type: str) -> list[tuple[int, int]]:
    """Character spans of the sources of ``text`` (``source_type`` in :data:`SOURCE_TYPES`).

    Paragraphs are separated by blank lines; lines by line breaks; words by white space.

    Example:
        >>> split_spans("one\\n\\ntwo three", "paragraph")
        [(0, 3), (5, 14)]
    """
    if source_type == "sentence":
        return split_sentences(text)
    if source_type == "line":
        return [_strip(text, *span) for span in _lines(text)]
    if source_type == "word":
        return [m.span() for m in re.finditer(r"\S+", text)]
    if source_type == "paragraph":
        spans, start = [], 0
        for match in re.finditer(r"\n[ \t]*\n\s*", text):
            spans.append(_strip(text, start, match.start()))
            start = match.end()
        spans.append(_strip(text, start, len(text)))
        return [s for s in spans if s[1] > s[0]]
    raise InvalidArgumentError(f"source_type={source_type!r} is not valid; use one of {', '.join(SOURCE_TYPES)}.")


def split_sources(text: str, source_type: str, part: int = 0) -> list[Source]:
    """The sources of ``text`` (see :func:`split_spans`), each with its span.

    Example:
        >>> split_sources("one two", "word", part=2)[0]
        Source(text='one', start=0, end=3, part=2)
    """
    return [Source(text[a:b], a, b, part) for a, b in split_spans(text, source_type)]


def join_sources(sources: Sequence[str], separator: str) -> tuple[str, list[Source]]:
    """The context made of ``sources`` joined with ``separator``, and the sources with their spans in it.

    Raises:
        InvalidArgumentError: for an empty list or an empty source string.

    Example:
        >>> context, spans = join_sources(["Mary cup", "John hat"], " ")
        >>> context, spans[1].start
        ('Mary cup John hat', 9)
    """
    if isinstance(sources, str) or not isinstance(sources, Sequence):
        raise InvalidArgumentError(f"sources must be a list of strings, got {type(sources).__name__}.")
    if not sources:
        raise InvalidArgumentError("The context has no sources: pass a non-empty list of strings (or a string).")
    spans, offset = [], 0
    for i, text in enumerate(sources):
        if not isinstance(text, str) or not text.strip():
            raise InvalidArgumentError(f"Source {i} is empty ({text!r}): every source must hold some text.")
        spans.append(Source(text, offset, offset + len(text)))
        offset += len(text) + len(separator)
    return separator.join(sources), spans
