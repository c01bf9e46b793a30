"""Utilities shared by every part of inseq."""

from .errors import (
    InseqDeprecationWarning,
    InseqError,
    LengthMismatchError,
    MissingAlignmentsError,
    MissingAttributionMethodError,
    UnknownAttributionMethodError,
)
from .registry import Registry
from .typing import TokenWithId

__all__ = [
    "InseqDeprecationWarning",
    "InseqError",
    "LengthMismatchError",
    "MissingAlignmentsError",
    "MissingAttributionMethodError",
    "Registry",
    "TokenWithId",
    "UnknownAttributionMethodError",
]
