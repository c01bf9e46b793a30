"""Checks of the arguments of the ``show*`` functions (pure: no import of :mod:`inseq.data`).

Example:
    >>> check_show_args(min_val=1, max_val=0)
    Traceback (most recent call last):
    ...
    inseq.utils.errors.InvalidArgumentError: show(): min_val (1) must be lower than max_val (0).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

from ..utils.checks import check_bool, check_int, check_mapping, check_number, describe
from ..utils.errors import InvalidArgumentError, InvalidArgumentTypeError

__all__ = ["check_show_args", "check_view_dims"]


def check_show_args(
    min_val: Any = None,
    max_val: Any = None,
    display: Any = True,
    return_html: Any = False,
    replace_char: Any = None,
) -> None:
    """Validate the colour range, the flags and ``replace_char`` of a ``show`` call.

    Raises:
        InvalidArgumentTypeError: a bound that is not a number, a flag that is not a bool, a bad ``replace_char``.
        InvalidArgumentError: a NaN/infinite bound or ``min_val >= max_val``.
    """
    low = check_number("show(): min_val", min_val, allow_none=True)
    high = check_number("show(): max_val", max_val, allow_none=True)
    if low is not None and high is not None and low >= high:
        raise InvalidArgumentError(f"show(): min_val ({min_val!r}) must be lower than max_val ({max_val!r}).")
    check_bool("show(): display", display)
    check_bool("show(): return_html", return_html)
    replacements = check_mapping("show(): replace_char", replace_char)
    bad = [v for v in replacements.values() if not isinstance(v, str)]
    if bad:
        raise InvalidArgumentTypeError(f"show(): replace_char values must be strings, got {bad[0]!r}.")


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_view_dims(show_dim: Any = None, slice_dims: Any = None, max_show_size: Any = None) -> None:
    """Validate the dimension arguments of a ``show`` call (checked even when the view ends up 2-D and ignores them).

    ``show_dim`` is a dimension index or name; ``slice_dims`` a ``{dimension (index or name): (start, end)}`` dict
    (a ``slice`` is accepted as a value); ``max_show_size`` a positive int. Bounds against the attributions' shape
    are checked by the granular view, which knows the dimensions.

    Raises:
        InvalidArgumentTypeError: a ``slice_dims`` that is not a dict, a key that is not an int or a name, a value
            that is not a pair of ints or a slice, a ``show_dim`` that is not an int or a name.
        InvalidArgumentError: a pair whose start is not lower than its end, or a ``max_show_size`` below 1.

    Example:
        >>> check_view_dims(slice_dims={2: (0, 4)})
        >>> check_view_dims(slice_dims="x")
        Traceback (most recent call last):
        ...
        inseq.utils.errors.InvalidArgumentTypeError: show(): slice_dims must be a dict {dimension (index or name): \
(start, end)} or None, got 'x' (str).
    """
    if show_dim is not None and not (_is_int(show_dim) or isinstance(show_dim, str)):
        raise InvalidArgumentTypeError(
            f"show(): show_dim must be a dimension index (int), a dimension name (str) or None, got {describe(show_dim)}."
        )
    check_int("show(): max_show_size", max_show_size, minimum=1, allow_none=True)
    if slice_dims is None:
        return
    if not isinstance(slice_dims, Mapping):
        raise InvalidArgumentTypeError(
            "show(): slice_dims must be a dict {dimension (index or name): (start, end)} or None, got "
            f"{describe(slice_dims)}."
        )
    for key, bounds in slice_dims.items():
        if not (_is_int(key) or isinstance(key, str)):
            raise InvalidArgumentTypeError(
                f"show(): slice_dims keys must be dimension indices (int) or names (str), got {describe(key)}."
            )
        if isinstance(bounds, slice):
            continue
        pair = isinstance(bounds, tuple | list) and len(bounds) == 2 and all(_is_int(b) for b in bounds)
        if not pair:
            raise InvalidArgumentTypeError(
                f"show(): slice_dims[{key!r}] must be a (start, end) pair of ints or a slice, got {describe(bounds)}."
            )
        if not 0 <= bounds[0] < bounds[1]:
            raise InvalidArgumentError(f"show(): slice_dims[{key!r}]={tuple(bounds)!r} must satisfy 0 <= start < end.")
