"""Small shared types used across the package (kept at this path: saved files name ``inseq.utils.typing``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TokenWithId:
    """A token string together with its vocabulary id.

    The id ``-1`` marks tokens that do not exist in the vocabulary, such as merged spans (``"Hello world"``) or
    contrastive renderings (``"a → b"``).

    Example:
        >>> tok = TokenWithId("Ġworld", 995)
        >>> tok == "Ġworld", tok == 995, str(tok)
        (True, True, 'Ġworld')
    """

    token: str
    id: int

    def __str__(self) -> str:
        return self.token

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return self.token == other
        if isinstance(other, int):
            return self.id == other
        if isinstance(other, TokenWithId):
            return self.token == other.token and self.id == other.id
        return False

    def __hash__(self) -> int:
        return hash((self.token, self.id))
