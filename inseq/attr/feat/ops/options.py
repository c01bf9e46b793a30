"""Option checks shared by the attribution kernels, so that every method of a family rejects the same values.

Example:
    >>> check_positive_int("n_steps", 5)
    5
    >>> check_positive_int("internal_batch_size", None, allow_none=True) is None
    True
"""

from __future__ import annotations

from typing import Any


def check_positive_int(name: str, value: Any, minimum: int = 1, allow_none: bool = False, what: str = "") -> Any:
    """Return ``value`` if it is an integer ``>= minimum`` (or None when allowed); raise ValueError naming it.

    Args:
        name: The option's name, quoted in the error.
        value: The value given.
        minimum: Smallest valid value.
        allow_none: Whether None (the default behaviour) is valid.
        what: Optional explanation of the option, appended to the error.

    Raises:
        ValueError: ``value`` is not an integer (booleans excluded) or is below ``minimum``.
    """
    if value is None and allow_none:
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        valid = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        if allow_none:
            valid += " or None"
        detail = f" ({what})" if what else ""
        raise ValueError(f"{name} must be {valid}{detail}, got {value!r}.")
    return value
