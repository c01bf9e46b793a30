"""Checks of the arguments of the ``show*`` functions (pure: no import of :mod:`inseq.data`).

Example:
    >>> check_show_args(min_val=1, max_val=0)
    Traceback (most recent call last):
    ...
    inseq.utils.errors.InvalidArgumentError: show(): min_val (1) must be lower than max_val (0).
"""

from __future__ import annotations

from typing import Any

from ..utils.checks import check_bool, check_mapping, check_number
from ..utils.errors import InvalidArgumentError, InvalidArgumentTypeError

__all__ = ["check_show_args"]


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
