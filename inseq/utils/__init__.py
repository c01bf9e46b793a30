"""Utilities shared by every part of inseq."""

from .errors import (
    AttributionFileError,
    DegenerateResultError,
    InputTooLongError,
    InseqDeprecationWarning,
    InseqError,
    InvalidArgumentError,
    InvalidArgumentTypeError,
    LengthMismatchError,
    MissingAlignmentsError,
    MissingAttributionMethodError,
    ModelLoadError,
    UnknownAttributionMethodError,
)
from .registry import Registry
from .typing import TokenWithId

__all__ = [
    "AttributionFileError",
    "DegenerateResultError",
    "InputTooLongError",
    "InseqDeprecationWarning",
    "InseqError",
    "InvalidArgumentError",
    "InvalidArgumentTypeError",
    "LengthMismatchError",
    "MissingAlignmentsError",
    "MissingAttributionMethodError",
    "ModelLoadError",
    "Registry",
    "TokenWithId",
    "UnknownAttributionMethodError",
]
