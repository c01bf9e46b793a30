"""Declaring dataclass fields that are also command-line options.

:func:`cli_arg` is a ``dataclasses.field`` whose metadata (aliases, help, choices) the command-line parser of
:mod:`inseq.commands.cli_args` reads. It lives here, in the leaf layer, so that library option dataclasses (e.g.
:class:`inseq.context.AttributeContextArgs`) can declare their options without importing the command line.

Example:
    >>> from dataclasses import dataclass, fields
    >>> @dataclass
    ... class Args:
    ...     name: str = cli_arg(default="x", aliases=["-n"], help="A name.")
    >>> fields(Args)[0].metadata["aliases"]
    ['-n']
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .errors import InseqError


def cli_arg(
    default: Any = dataclasses.MISSING,
    *,
    aliases: Sequence[str] | None = None,
    help: str = "",
    choices: Iterable[Any] | Callable[[], Iterable[Any]] | None = None,
    default_factory: Callable[[], Any] | Any = dataclasses.MISSING,
    required: bool = False,
    metavar: str | None = None,
    **kwargs: Any,
) -> Any:
    """Declare a dataclass field that is also a command-line option.

    Args:
        default: Default value of the field.
        aliases: Other option strings (``["-m"]``, ``["--dev"]``).
        help: Help text shown by ``--help``.
        choices: Allowed values, or a callable returning them (evaluated when the parser is built).
        default_factory: Factory for mutable or computed defaults (lists, dicts, the default device).
        required: Whether the option must be given on the command line.
        metavar: Name of the value in the help text.
        **kwargs: Other ``dataclasses.field`` arguments.

    Returns:
        A ``dataclasses.Field``.

    Example:
        >>> from dataclasses import dataclass, fields
        >>> @dataclass
        ... class Args:
        ...     size: int = cli_arg(default=8, aliases=["-bs"], help="Batch size.")
        >>> fields(Args)[0].metadata["aliases"]
        ['-bs']
    """
    metadata = dict(kwargs.pop("metadata", None) or {})
    metadata.update(
        {"aliases": list(aliases or []), "help": help, "choices": choices, "required": required, "metavar": metavar}
    )
    if default is dataclasses.MISSING and default_factory is dataclasses.MISSING and not required:
        default = None
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata, **kwargs)
    if default is dataclasses.MISSING:  # required field: the dataclass still needs a default to allow inheritance
        default = None
    return dataclasses.field(default=default, metadata=metadata, **kwargs)


__all__ = ["cli_arg"]


def check_cli_options(options: dict[str, Any]) -> None:
    """Check counts (names ending in ``_topk``, ``batch_size``, ``max_rows``) and ``*_threshold`` numbers.

    Raises:
        InseqError: e.g. ``--context_sensitivity_topk must be a positive integer, got -3``.
    """
    for name, value in options.items():
        if name.endswith("_threshold") and value is not None:
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise InseqError(f"--{name} must be a finite number, got {value!r}.")
            continue
        if value is None or not (name.endswith("_topk") or name in ("batch_size", "max_rows")):
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "max_rows" else 1):
            valid = "a non-negative integer" if name == "max_rows" else "a positive integer"
            raise InseqError(f"--{name} must be {valid}, got {value!r}.")
