"""Checks at the ``aggregate()`` boundary: unknown options and aggregation functions that return nothing usable.

Example:
    >>> out.aggregate(nromalize=False)  # doctest: +SKIP
    Traceback (most recent call last):
    InvalidArgumentError: Unknown aggregate() option(s) ['nromalize'] for the 'scores' aggregator; valid: [...]
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

import torch

from ..utils.checks import check_bool, check_path, describe
from ..utils.errors import DegenerateResultError, InvalidArgumentError, InvalidArgumentTypeError

__all__ = [
    "accepted_aggregate_options",
    "check_aggregate_kwargs",
    "check_aggregate_option_types",
    "check_aggregation_result",
    "check_save_args",
]

_HOOKS = ("_aggregate", "pre_aggregate_hook", "post_aggregate_hook")
_ALWAYS = frozenset({"do_pre_aggregation_checks", "do_post_aggregation_checks", "aggregate_fn"})


def _named_params(fn: Any) -> tuple[set[str], bool]:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return set(), True
    named = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return named, any(p.kind is p.VAR_KEYWORD for p in params)


def _function_params(fn: Any) -> set[str] | None:
    """Named options of an aggregation function; None when a user function takes any ``**kwargs``."""
    inner = getattr(fn, "fn", None)
    if callable(inner):  # a user callable registered with register_aggregation_function
        fn = inner
    named, open_kwargs = _named_params(fn)
    builtin = type(fn).__module__.startswith("inseq.") or getattr(fn, "__module__", "").startswith("inseq.")
    return None if open_kwargs and not builtin else named


def accepted_aggregate_options(classes: Iterable[type], functions: Iterable[Any]) -> set[str] | None:
    """Option names the aggregators and aggregation functions accept (None: anything, a user ``**kwargs`` function).

    Options of a parent aggregator are accepted too (e.g. ``normalize`` for ``spans``, as in inseq 0.7, where the
    CLI passes them to every aggregator), even where the subclass does not read them.

    Example:
        >>> from inseq.data.aggregator import SequenceAttributionAggregator
        >>> "normalize" in accepted_aggregate_options([SequenceAttributionAggregator], [])
        True
    """
    from .aggregation_functions import AGGREGATION_FUNCTIONS

    accepted = set(_ALWAYS)
    for cls in classes:
        for klass in cls.__mro__:
            for hook in _HOOKS:
                if hook in klass.__dict__:
                    accepted |= _named_params(getattr(klass.__dict__[hook], "__func__", klass.__dict__[hook]))[0]
    builtins = [f for _, f in AGGREGATION_FUNCTIONS.items() if not callable(getattr(f, "fn", None))]
    for fn in [*functions, *builtins]:
        if isinstance(fn, str):
            fn = AGGREGATION_FUNCTIONS.get(fn) if fn in AGGREGATION_FUNCTIONS else None
        if fn is None:
            continue
        named = _function_params(fn)
        if named is None:
            return None
        accepted |= named
    return accepted - {"attr", "tensor", "scores", "dim", "cls", "self"}


def check_aggregate_kwargs(steps: list[tuple[type, Any]], kwargs: dict[str, Any]) -> None:
    """Refuse options that no step of the pipeline (nor its aggregation functions) would read.

    Raises:
        InvalidArgumentError: naming the unknown options and the valid ones.
    """
    functions = [fn if fn is not None else cls.default_fn for cls, fn in steps]
    check_aggregate_option_types(kwargs)
    accepted = accepted_aggregate_options([cls for cls, _ in steps], functions)
    if accepted is None:
        return
    unknown = sorted(k for k in kwargs if k not in accepted)
    if unknown:
        names = [cls.aggregator_name for cls, _ in steps]
        raise InvalidArgumentError(
            f"Unknown aggregate() option(s) {unknown} for the aggregator(s) {names}; valid: {sorted(accepted)}."
        )


def check_aggregation_result(fn: Callable, result: Any, tensor: torch.Tensor, dim: int) -> torch.Tensor:
    """An aggregation function must return a tensor of the input's shape without ``dim``."""
    name = getattr(fn, "__name__", None) or repr(fn)
    expected = tuple(s for i, s in enumerate(tensor.shape) if i != dim % tensor.ndim)
    if not isinstance(result, torch.Tensor):
        raise DegenerateResultError(
            f"The aggregation function {name!r} returned {describe(result)}; it must return a torch.Tensor of shape "
            f"{expected} (the input {tuple(tensor.shape)} reduced along dim {dim})."
        )
    if tuple(result.shape) != expected:
        raise DegenerateResultError(
            f"The aggregation function {name!r} returned shape {tuple(result.shape)}; expected {expected} (the input "
            f"{tuple(tensor.shape)} reduced along dim {dim})."
        )
    return result


def check_save_args(path: Any, **flags: Any) -> None:
    """Check ``save_attributions`` arguments: a file path that is not a folder and boolean flags.

    Raises:
        InvalidArgumentTypeError: a path that is not ``str``/``PathLike`` or a flag that is not a bool.
        InvalidArgumentError: a path naming an existing folder.
    """
    from pathlib import Path

    check_path("path", path)
    if Path(path).is_dir():
        raise InvalidArgumentError(f"path {str(path)!r} is a folder; pass a file path such as 'out.json'.")
    for name, value in flags.items():
        check_bool(name, value)


_SPECIAL_CHARS_HINT = "a string or a tuple of strings (e.g. ('▁', 'Ġ'))"


def check_aggregate_option_types(kwargs: dict[str, Any]) -> None:
    """Types of the common aggregator options, checked before any aggregator reads them."""
    import re

    for name in ("normalize", "rescale"):
        if kwargs.get(name) is not None:
            check_bool(name, kwargs[name])
    special = kwargs.get("special_chars")
    if special is not None and not (
        isinstance(special, str) or (isinstance(special, list | tuple) and all(isinstance(c, str) for c in special))
    ):
        raise InvalidArgumentTypeError(f"special_chars must be {_SPECIAL_CHARS_HINT}, got {describe(special)}.")
    pattern = kwargs.get("split_pattern")
    if pattern is not None:
        if not isinstance(pattern, str):
            raise InvalidArgumentTypeError(
                f"split_pattern must be a regular expression string, got {describe(pattern)}."
            )
        try:
            re.compile(pattern)
        except re.error as err:
            raise InvalidArgumentError(
                f"split_pattern {pattern!r} is not a valid regular expression ({err})."
            ) from None
    select = kwargs.get("select_idx")
    if select is not None:
        items = list(select) if isinstance(select, list | tuple) else [select]
        if not items or not all(isinstance(i, int) and not isinstance(i, bool) for i in items):
            raise InvalidArgumentTypeError(
                f"select_idx must be an int, a (start, end) pair or a list of ints, got {describe(select)}."
            )
