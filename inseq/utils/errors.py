"""Exceptions raised by inseq. Each names the bad value and what would be valid."""

from __future__ import annotations


class InseqError(Exception):
    """Base class of inseq's own errors."""


class UnknownAttributionMethodError(InseqError, ValueError):
    """An attribution method identifier that is not registered."""

    def __init__(self, method: str, available: list[str] | None = None) -> None:
        msg = f"Unknown attribution method {method!r}."
        if available:
            msg += f" Available methods: {', '.join(sorted(available))}."
        super().__init__(msg)


class MissingAttributionMethodError(InseqError, ValueError):
    """No attribution method was given and the model has no default one."""

    def __init__(self) -> None:
        super().__init__(
            "No attribution method was specified. Pass `method=` to `attribute()` or an attribution method to "
            "`inseq.load_model(model, attribution_method)`. See `inseq.list_feature_attribution_methods()`."
        )


class LengthMismatchError(InseqError, ValueError):
    """Two sequences that must have the same length do not."""


class MissingAlignmentsError(InseqError, ValueError):
    """Contrastive alignments were needed but could not be computed."""


class InseqDeprecationWarning(UserWarning):
    """A deprecated inseq feature was used."""


class InvalidArgumentError(InseqError, ValueError):
    """An argument of a public call has the right type but a value outside what is valid."""


class InvalidArgumentTypeError(InseqError, TypeError):
    """An argument of a public call has a type that is not accepted."""


class ModelLoadError(InseqError, OSError):
    """A model, tokenizer or configuration could not be loaded; the original exception is the ``__cause__``."""


class InputTooLongError(InseqError, ValueError):
    """An input (or the generation asked for) is longer than the model's maximum number of positions."""


class DegenerateResultError(InseqError, ValueError):
    """A computation produced a result that cannot be meaningful (wrong shape, all zeros where contrast was due)."""


class AttributionFileError(InseqError, ValueError):
    """An attribution file is malformed, too large or too deeply nested to be loaded."""


class OutOfRangeError(InseqError, IndexError):
    """An index or position outside the valid range (an ``IndexError``, so that indexing protocols still work)."""


class UnknownStepScoreError(InseqError, KeyError):
    """A step score name that the output does not hold (a ``KeyError`` for compatibility)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""
