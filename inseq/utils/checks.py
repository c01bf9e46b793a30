"""Small argument checks shared by every public boundary: each error names the argument, the bad value and what is valid.

Example:
    >>> from inseq.utils.checks import check_int
    >>> check_int("n_steps", 10, minimum=1)
    10
    >>> check_int("n_steps", "10", minimum=1)
    Traceback (most recent call last):
    ...
    inseq.utils.errors.InvalidArgumentTypeError: n_steps must be an int >= 1, got '10' (str).
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .errors import InvalidArgumentError, InvalidArgumentTypeError, OutOfRangeError

__all__ = [
    "check_bool",
    "check_callable_or_name",
    "check_call_signature",
    "check_index",
    "check_int",
    "check_path",
    "check_spans",
    "check_mapping",
    "check_number",
    "check_text",
    "check_texts",
    "describe",
    "span_windows",
]


def describe(value: Any, limit: int = 60) -> str:
    """``repr`` of a value (cut to ``limit`` characters) followed by its type name."""
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{text} ({type(value).__name__})"


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and type(value).__name__ != "bool_"


def check_int(
    name: str, value: Any, minimum: int | None = None, maximum: int | None = None, allow_none: bool = False
) -> int | None:
    """Return ``value`` if it is an int (not a bool) within ``[minimum, maximum]``; None passes with ``allow_none``."""
    if value is None and allow_none:
        return None
    bounds = f" >= {minimum}" if minimum is not None else ""
    bounds += f" and <= {maximum}" if maximum is not None else ""
    valid = f"an int{bounds}" + (" or None" if allow_none else "")
    if not _is_int(value):
        raise InvalidArgumentTypeError(f"{name} must be {valid}, got {describe(value)}.")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise InvalidArgumentError(f"{name} must be {valid}, got {value!r}.")
    return int(value)


def check_number(
    name: str,
    value: Any,
    minimum: float | None = None,
    maximum: float | None = None,
    allow_none: bool = False,
    strict_minimum: bool = False,
) -> float | None:
    """Return ``value`` as a float if it is a finite real number within the bounds (``> minimum`` if strict)."""
    if value is None and allow_none:
        return None
    low = f" > {minimum}" if strict_minimum else f" >= {minimum}"
    valid = (
        "a finite number" + (low if minimum is not None else "") + (f" <= {maximum}" if maximum is not None else "")
    )
    valid += " or None" if allow_none else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidArgumentTypeError(f"{name} must be {valid}, got {describe(value)}.")
    number = float(value)
    too_low = minimum is not None and (number <= minimum if strict_minimum else number < minimum)
    if not math.isfinite(number) or too_low or (maximum is not None and number > maximum):
        raise InvalidArgumentError(f"{name} must be {valid}, got {value!r}.")
    return number


def check_index(owner: str, index: Any, length: int) -> None:
    """Check a container index: an int in ``[-length, length)`` or a slice.

    Raises:
        OutOfRangeError: an int out of range (an ``IndexError``, so iteration protocols keep working).
        InvalidArgumentTypeError: anything else.
    """
    if isinstance(index, slice):
        return
    if not _is_int(index):
        raise InvalidArgumentTypeError(f"{owner} indices must be ints or slices, got {describe(index)}.")
    if not -length <= index < length:
        raise OutOfRangeError(f"{owner} index {index} is out of range: it holds {length} item(s).")


def check_path(name: str, value: Any) -> Any:
    """Return ``value`` if it is a ``str`` or ``os.PathLike`` (a file path)."""
    import os

    if isinstance(value, str) and value:
        return value
    if isinstance(value, os.PathLike):
        return value
    raise InvalidArgumentTypeError(f"{name} must be a file path (str or pathlib.Path), got {describe(value)}.")


def check_bool(name: str, value: Any) -> bool:
    """Return ``value`` if it is a bool (numpy bools included); strings such as ``'yes'`` are refused."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return bool(value)
    raise InvalidArgumentTypeError(f"{name} must be True or False, got {describe(value)}.")


def check_mapping(name: str, value: Any, allow_none: bool = True) -> dict[str, Any]:
    """Return a dict copy of a mapping with string keys (an empty dict for None when ``allow_none``)."""
    if value is None and allow_none:
        return {}
    if not isinstance(value, Mapping):
        hint = " (e.g. {'max_new_tokens': 10})" if name == "generation_args" else ""
        raise InvalidArgumentTypeError(f"{name} must be a dict{hint}, got {describe(value)}.")
    bad = [k for k in value if not isinstance(k, str)]
    if bad:
        raise InvalidArgumentTypeError(f"{name} keys must be strings, got the key {describe(bad[0])}.")
    return dict(value)


def check_text(name: str, value: Any) -> str:
    """Return ``value`` if it is a string encodable as UTF-8 (no lone surrogate characters)."""
    if not isinstance(value, str):
        raise InvalidArgumentTypeError(f"{name} must be a string, got {describe(value)}.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        char = value[err.start : err.end]
        raise InvalidArgumentError(
            f"{name} contains the character {char!r} at index {err.start}, which is not valid Unicode text (a lone "
            "surrogate); decode the text with errors='replace' or remove it."
        ) from None
    return value


def check_texts(name: str, value: Any, allow_none: bool = False) -> list[str] | None:
    """A string or a list/tuple of strings as a list; each is checked with :func:`check_text`."""
    if value is None and allow_none:
        return None
    if isinstance(value, str):
        return [check_text(name, value)]
    if not isinstance(value, list | tuple):
        valid = "a string or a list of strings" + (" or None" if allow_none else "")
        raise InvalidArgumentTypeError(f"{name} must be {valid}, got {describe(value)}.")
    return [check_text(f"{name}[{i}]", text) for i, text in enumerate(value)]


def check_callable_or_name(name: str, value: Any, names: Callable[[], list[str]]) -> Any:
    """Return ``value`` if it is callable or one of ``names()`` (a registry listing)."""
    if callable(value):
        return value
    if not isinstance(value, str):
        raise InvalidArgumentTypeError(f"{name} must be a registered name or a callable, got {describe(value)}.")
    available = names()
    if value not in available:
        raise InvalidArgumentError(f"Unknown {name} {value!r}. Available: {', '.join(sorted(available))}.")
    return value


def _callable_name(fn: Any) -> str:
    name = getattr(fn, "__name__", None)
    return name if isinstance(name, str) else type(fn).__name__


def check_call_signature(name: str, fn: Any, n_positional: int, expected: str) -> Any:
    """Return ``fn`` if its signature accepts the ``n_positional`` positional arguments inseq will pass it.

    Keyword parameters are not checked (they come from the caller's keyword arguments); a callable whose signature
    cannot be read (some C builtins) passes.

    Args:
        name: how the callable is named in the error (e.g. ``"attributed_fn"``).
        fn: the callable.
        n_positional: the number of positional arguments inseq passes.
        expected: the expected signature, written out for the error (e.g. ``"fn(args, **kwargs) -> Tensor"``).

    Raises:
        InvalidArgumentTypeError: ``fn`` is not callable, or cannot take ``n_positional`` positional arguments.

    Example:
        >>> check_call_signature("attributed_fn", lambda args, **kw: args, 1, "fn(args, **kwargs)").__name__
        '<lambda>'
        >>> check_call_signature("attributed_fn", lambda: 0, 1, "fn(args, **kwargs)")
        Traceback (most recent call last):
        ...
        inseq.utils.errors.InvalidArgumentTypeError: attributed_fn '<lambda>' has the signature () and cannot take \
the 1 positional argument(s) inseq passes it; expected fn(args, **kwargs).
    """
    if not callable(fn):
        raise InvalidArgumentTypeError(f"{name} must be a callable {expected}, got {describe(fn)}.")
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return fn
    try:
        signature.bind_partial(*range(n_positional))
    except TypeError:
        raise InvalidArgumentTypeError(
            f"{name} {_callable_name(fn)!r} has the signature {signature} and cannot take the {n_positional} "
            f"positional argument(s) inseq passes it; expected {expected}."
        ) from None
    return fn


def check_spans(spans: Any, length: int, name: str = "spans") -> list[tuple[int, int]]:
    """Validate ``spans``: ``(start, end)`` int pairs, ``0 <= start < end <= length``, not overlapping; sorted.

    Example:
        >>> from inseq.utils.checks import check_spans
        >>> check_spans([(3, 5), [0, 2]], 6)
        [(0, 2), (3, 5)]
        >>> try:
        ...     check_spans([(0, 3), (2, 4)], 6)
        ... except ValueError as err:
        ...     print(str(err).split(";")[0])
        spans overlap: (0, 3) and (2, 4) share tokens
    """
    if isinstance(spans, (str, bytes)) or not isinstance(spans, Sequence) or not spans:
        raise InvalidArgumentTypeError(f"{name} must be a non-empty list of (start, end) token ranges, got {spans!r}.")
    out = []
    for span in spans:
        ok = isinstance(span, Sequence) and not isinstance(span, str) and len(span) == 2
        if not ok or not all(isinstance(v, int) and not isinstance(v, bool) for v in span):
            raise InvalidArgumentTypeError(f"{name} entries must be (start, end) pairs of ints, got {span!r}.")
        start, end = int(span[0]), int(span[1])
        if not 0 <= start < end <= length:
            raise InvalidArgumentError(
                f"{name} entry {tuple(span)!r} is out of range: spans need 0 <= start < end <= {length} "
                f"(the number of attributed tokens; end is exclusive)."
            )
        out.append((start, end))
    out.sort()
    for a, b in zip(out, out[1:]):
        if b[0] < a[1]:
            raise InvalidArgumentError(
                f"{name} overlap: {a!r} and {b!r} share tokens; spans must be disjoint (start, end) token ranges."
            )
    return out


def span_windows(spans: list[tuple[int, int]], length: int) -> list[tuple[int, int]]:
    """The spans, plus a one-token window for every token of ``length`` outside them, in token order.

    Example:
        >>> from inseq.utils.checks import span_windows
        >>> span_windows([(1, 3)], 5)
        [(0, 1), (1, 3), (3, 4), (4, 5)]
    """
    covered = {t for s, e in spans for t in range(s, e)}
    return sorted(spans + [(t, t + 1) for t in range(length) if t not in covered])
