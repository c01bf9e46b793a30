"""Token-level bookkeeping for PECoRe: which tokens of a text the model sees, and where each part of it lies.

The model API takes texts, so every position is derived from the model's own tokenization of the exact text it
will attribute (``model.encode``): a character offset maps to the number of leading tokens lying entirely before it,
found by encoding the prefix. A continuation glued to the last prompt word (``"...to come" + "s"``) therefore moves
the merged token to the output side instead of breaking the prompt/output split, and a BOS token (added by the
tokenizer or written by a chat template) is never mistaken for text.

Example:
    >>> text = TokenizedText.build(model, "Hello world")  # doctest: +SKIP
    >>> text.span(6, 11)  # doctest: +SKIP
    range(1, 2)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..models import AttributionModel


def common_prefix_length(a: list[int], b: list[int]) -> int:
    """Length of the longest common prefix of two id lists.

    Example:
        >>> common_prefix_length([1, 2, 3], [1, 2, 4, 5])
        2
    """
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def locate(haystack: list[Any], needle: list[int], wildcard: Any = object()) -> int | None:
    """First index where ``needle`` occurs in ``haystack`` (None when it does not).

    Items of ``haystack`` equal to ``wildcard`` match any id.

    Example:
        >>> locate([0, 5, 6, 7], [5, 6])
        1
        >>> locate([0, 5, None, 7], [5, 6], wildcard=None)
        1
    """
    n = len(needle)
    for start in range(len(haystack) - n + 1):
        if all(h == x or h is wildcard for h, x in zip(haystack[start : start + n], needle)):
            return start
    return None


def encode_ids(model: AttributionModel, text: str, as_targets: bool = False) -> list[int]:
    """The ids the model gives ``text`` (special tokens included, as when attributing it)."""
    return model.encode(text, as_targets=as_targets).input_ids[0].tolist()


@dataclass
class TokenizedText:
    """A text and the ids the model gives it.

    Attributes:
        text: The text.
        ids: ``model.encode(text)`` ids (special tokens included).
        as_targets: Whether it is tokenized as an encoder-decoder target.
        model: The model whose tokenizer is used.
    """

    text: str
    ids: list[int]
    as_targets: bool
    model: Any

    @classmethod
    def build(cls, model: AttributionModel, text: str, as_targets: bool = False) -> TokenizedText:
        """Tokenize ``text`` with the model."""
        return cls(text, encode_ids(model, text, as_targets), as_targets, model)

    def _prefix_ids(self, char: int) -> list[int]:
        return encode_ids(self.model, self.text[:char], self.as_targets)

    def boundary(self, char: int) -> int:
        """Number of leading tokens lying entirely within ``text[:char]``."""
        if char >= len(self.text):
            return len(self.ids)
        return common_prefix_length(self._prefix_ids(max(char, 0)), self.ids)

    def span(self, start_char: int, end_char: int) -> range:
        """Token positions of the characters ``[start_char, end_char)`` (a token straddling the start is excluded)."""
        start = self.boundary(start_char)
        return range(start, max(start, self.boundary(end_char)))

    def prefix_text(self, n_tokens: int) -> str:
        """The shortest prefix of the text whose tokens start with ``ids[:n_tokens]``."""
        lo, hi = 0, len(self.text)
        while lo < hi:
            mid = (lo + hi) // 2
            if common_prefix_length(self._prefix_ids(mid), self.ids) >= n_tokens:
                hi = mid
            else:
                lo = mid + 1
        return self.text[:lo]

    def prompt_text(self, end_char: int) -> str | None:
        """The longest prefix ``text[:c]``, ``c <= end_char``, whose tokens are a non-empty prefix of ``ids``.

        Decoder-only models need the prompt to be a token-level prefix of the attributed sequence: when the
        output is glued to the last prompt word, the prompt is cut back to the previous word boundary.
        """
        char = end_char
        while char > 0:
            ids = self._prefix_ids(char)
            if ids and self.ids[: len(ids)] == ids:
                return self.text[:char]
            char = max(self.text.rfind(" ", 0, char - 1), 0) if char > 1 else 0
        return None

    def tokens(self, positions: range | list[int]) -> list[str]:
        """Token strings at ``positions``."""
        return self.model.tokenizer.convert_ids_to_tokens([self.ids[p] for p in positions])


def continuation_text(model: AttributionModel, prefix_ids: list[int], new_ids: list[int]) -> str:
    """Text that ``new_ids`` add after ``prefix_ids`` (leading spaces kept, as the tokenizer decodes them in context).

    Example:
        >>> continuation_text(model, [15496], [995])  # doctest: +SKIP
        ' world'
    """
    prefix = model.decode([prefix_ids], skip_special_tokens=False)[0] if prefix_ids else ""
    full = model.decode([prefix_ids + new_ids], skip_special_tokens=False)[0]
    if full.startswith(prefix):
        return full[len(prefix) :]
    return model.decode([new_ids], skip_special_tokens=False)[0]
