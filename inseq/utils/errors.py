"""Exceptions raised by inseq. Each names the bad value and what would be valid."""

from __future__ import annotations


class InseqError(Exception):
    """Base class of inseq's own errors.

    Example:
        >>> from inseq.utils import InseqError, ModelLoadError
        >>> issubclass(ModelLoadError, InseqError) and issubclass(ModelLoadError, OSError)
        True
    """


class UnknownAttributionMethodError(InseqError, ValueError):
    """An attribution method identifier that is not registered.

    Example:
        >>> str(UnknownAttributionMethodError("salency", ["saliency", "attention"]))
        "Unknown attribution method 'salency'. Available methods: attention, saliency."
    """

    def __init__(self, method: str, available: list[str] | None = None, param: str | None = None) -> None:
        msg = f"Unknown attribution method {method!r}" + (f" ({param}={method!r})." if param else ".")
        if available:
            msg += f" Available methods: {', '.join(sorted(available))}."
        super().__init__(msg)


class MissingAttributionMethodError(InseqError, ValueError):
    """No attribution method was given and the model has no default one.

    Example:
        >>> "method=" in str(MissingAttributionMethodError())
        True
    """

    def __init__(self) -> None:
        super().__init__(
            "No attribution method was specified. Pass `method=` to `attribute()` or an attribution method to "
            "`inseq.load_model(model, attribution_method)`. See `inseq.list_feature_attribution_methods()`."
        )


class LengthMismatchError(InseqError, ValueError):
    """Two sequences that must have the same length do not.

    Example:
        >>> isinstance(LengthMismatchError("3 labels for 4 tokens"), ValueError)
        True
    """


class MissingAlignmentsError(InseqError, ValueError):
    """Contrastive alignments were needed but could not be computed.

    Example:
        >>> isinstance(MissingAlignmentsError("no aligner model could be loaded"), ValueError)
        True
    """


class InseqDeprecationWarning(UserWarning):
    """A deprecated inseq feature was used.

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     warnings.warn("old option", InseqDeprecationWarning)
        >>> caught[0].category.__name__
        'InseqDeprecationWarning'
    """


class QuadraticForwardsWarning(UserWarning):
    """A method quadratic in the input length (occlusion, LIME, value zeroing) will run more perturbed rows than the
    ``quadratic_forwards`` budget (:func:`inseq.utils.budgets.memory_budgets`).

    Example:
        >>> issubclass(QuadraticForwardsWarning, UserWarning)
        True
    """


class InvalidArgumentError(InseqError, ValueError):
    """An argument of a public call has the right type but a value outside what is valid.

    Example:
        >>> try:
        ...     raise InvalidArgumentError("n_steps must be a positive integer, got 0.")
        ... except ValueError as err:
        ...     print(err)
        n_steps must be a positive integer, got 0.
    """


class InvalidArgumentTypeError(InseqError, TypeError):
    """An argument of a public call has a type that is not accepted.

    Example:
        >>> isinstance(InvalidArgumentTypeError("n_steps must be an int, got 'ten'."), TypeError)
        True
    """


class ModelLoadError(InseqError, OSError):
    """A model, tokenizer or configuration could not be loaded; the original exception is the ``__cause__``.

    Example:
        >>> import inseq
        >>> try:
        ...     inseq.load_model("/no/such/model", "saliency")
        ... except ModelLoadError as err:
        ...     print(str(err).split(": ")[0])
        Could not load the model configuration from '/no/such/model'
    """


class InputTooLongError(InseqError, ValueError):
    """An input (or the generation asked for) is longer than the model's maximum number of positions.

    Example:
        >>> isinstance(InputTooLongError("600 tokens, the model has 512 positions"), ValueError)
        True
    """


class DegenerateResultError(InseqError, ValueError):
    """A computation produced a result that cannot be meaningful (wrong shape, all zeros where contrast was due).

    Example:
        >>> isinstance(DegenerateResultError("the step function returned 2 values for 3 rows"), ValueError)
        True
    """


class AttributionFileError(InseqError, ValueError):
    """An attribution file is malformed, too large or too deeply nested to be loaded.

    Example:
        >>> import inseq, pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "broken.json"
        >>> _ = path.write_text("{not json")
        >>> try:
        ...     inseq.FeatureAttributionOutput.load(path)
        ... except AttributionFileError as err:
        ...     print(type(err).__name__)
        AttributionFileError
    """


class OutOfRangeError(InseqError, IndexError):
    """An index or position outside the valid range (an ``IndexError``, so that indexing protocols still work).

    Example:
        >>> try:
        ...     raise OutOfRangeError("sequence index 3 out of range for 2 sequences")
        ... except IndexError as err:
        ...     print(err)
        sequence index 3 out of range for 2 sequences
    """


class UnknownStepScoreError(InseqError, KeyError):
    """A step score name that the output does not hold (a ``KeyError`` for compatibility).

    Example:
        >>> str(UnknownStepScoreError("No step score 'entropy'; available: 'probability'."))
        "No step score 'entropy'; available: 'probability'."
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""
