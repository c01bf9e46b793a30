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
    OutOfRangeError,
    UnknownAttributionMethodError,
    UnknownStepScoreError,
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
    "OutOfRangeError",
    "Registry",
    "TokenWithId",
    "UnknownAttributionMethodError",
    "UnknownStepScoreError",
]
