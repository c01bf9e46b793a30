"""Validation of an ``attribute()`` call: every argument's type and range, checked once before any work is done.

:func:`validate_attribute_params` is the single entry point, called first by
:meth:`inseq.attr.runner.AttributionRequest.build`. It normalises the arguments (a string becomes a one-item list,
``None`` an empty dict) and raises :class:`~inseq.utils.errors.InvalidArgumentTypeError` /
:class:`~inseq.utils.errors.InvalidArgumentError` naming the argument, the bad value and what is valid. The results
of step and attributed functions are checked by :func:`check_step_output`.

Example:
    >>> validate_attribute_params(model, dict(input_texts=42, ...))  # doctest: +SKIP
    Traceback (most recent call last):
    InvalidArgumentTypeError: input_texts must be a string or a list of strings, got 42 (int).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch

from ..utils.checks import check_bool, check_callable_or_name, check_int, check_mapping, check_texts, describe
from ..utils.errors import DegenerateResultError, InvalidArgumentError, InvalidArgumentTypeError
from .inputs import check_inputs
from .step_functions import CONTRASTIVE_STEP_FUNCTIONS, is_contrastive_step_function, list_step_functions

__all__ = ["COUNT_OPTIONS", "check_attribute_flags", "check_step_output", "validate_attribute_params"]

#: Method options that are counts (>= 1) for every method accepting them; checked by type whatever the method.
COUNT_OPTIONS = ("n_steps", "internal_batch_size", "perturbations_per_eval", "n_samples", "max_chunk_size")

_BOOL_PARAMS = ("attribute_target", "include_eos_baseline", "generate_from_target_prefix", "skip_special_tokens")
_DICT_KWARGS = ("attribution_args", "attributed_fn_args", "step_scores_args")


def validate_attribute_params(params: dict[str, Any], model: Any = None) -> dict[str, Any]:
    """Check and normalise the parameters of ``attribute()`` (as passed to ``AttributionRequest.build``).

    Returns:
        A copy of ``params`` with ``input_texts`` / ``generated_texts`` as lists, ``step_scores`` as a list,
        ``generation_args`` and ``kwargs`` as dicts.
    """
    params = dict(params)
    params["input_texts"] = check_inputs("input_texts", params["input_texts"])
    if not params["input_texts"]:
        raise InvalidArgumentError("input_texts is empty: pass at least one text to attribute.")
    params["generated_texts"] = check_inputs("generated_texts", params.get("generated_texts"), allow_none=True)
    for name in ("attr_pos_start", "attr_pos_end"):
        check_int(name, params.get(name), allow_none=True)
    for name in _BOOL_PARAMS:
        check_bool(name, params.get(name, False))
    check_int("batch_size", params.get("batch_size"), minimum=1, allow_none=True)
    params["step_scores"] = _step_scores(params.get("step_scores"))
    check_callable_or_name("attributed_fn", params.get("attributed_fn"), list_step_functions)
    params["generation_args"] = check_mapping("generation_args", params.get("generation_args"))
    kwargs = check_mapping("kwargs", params.get("kwargs"))
    for name in _DICT_KWARGS:
        if kwargs.get(name) is not None:
            kwargs[name] = check_mapping(name, kwargs[name])
    _check_counts({**kwargs, **(kwargs.get("attribution_args") or {})})
    _check_contrast_inputs(kwargs)
    _check_contrast(params["attributed_fn"], params["step_scores"], kwargs, params.get("method"))
    if model is not None:
        _check_target_layer(model, params.get("method"))
    params["truncate_inputs"] = check_bool("truncate_inputs", kwargs.pop("truncate_inputs", False))
    params["kwargs"] = kwargs
    return params


def _step_scores(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        raise InvalidArgumentTypeError(
            f"step_scores must be a list of step function names, got the string {value!r}: write [{value!r}]."
        )
    if not isinstance(value, list | tuple):
        raise InvalidArgumentTypeError(f"step_scores must be a list of step function names, got {describe(value)}.")
    names = list(value)
    for i, name in enumerate(names):
        check_callable_or_name(f"step_scores[{i}]", name, list_step_functions)
        if not isinstance(name, str):
            raise InvalidArgumentTypeError(
                f"step_scores[{i}] must be the name of a registered step function (register a callable with "
                f"inseq.register_step_function), got {describe(name)}."
            )
    return names


def _check_counts(options: dict[str, Any]) -> None:
    for name in COUNT_OPTIONS:
        if name in options:
            check_int(
                name,
                options[name],
                minimum=1,
                allow_none=name in ("internal_batch_size", "max_chunk_size", "perturbations_per_eval"),
            )


def _check_contrast(attributed_fn: Any, step_scores: list[str], kwargs: dict[str, Any], method: Any) -> None:
    uses_fn = getattr(method, "uses_attributed_fn", True)
    fns = ([attributed_fn] if uses_fn else []) + step_scores
    contrastive = [f for f in fns if _is_contrastive(f)]
    if not contrastive:
        return
    if kwargs.get("contrast_targets") is None and kwargs.get("contrast_sources") is None:
        names = [f if isinstance(f, str) else getattr(f, "__name__", repr(f)) for f in contrastive]
        raise InvalidArgumentError(
            f"The contrastive step function(s) {names} compare with contrastive inputs, but neither "
            "contrast_targets nor contrast_sources was given (the result would be all zeros). Pass "
            "contrast_targets=[...] (or contrast_sources=[...] for encoder-decoder models)."
        )


def _check_target_layer(model: Any, method: Any) -> None:
    """A ``target_layer`` given to ``load_model`` by name must name a submodule (checked before any pass)."""
    layer = (getattr(method, "init_kwargs", None) or {}).get("target_layer")
    if layer is None or isinstance(layer, torch.nn.Module):
        return
    if not isinstance(layer, str):
        raise InvalidArgumentTypeError(
            f"target_layer must be a submodule name (e.g. 'transformer.h.0') or a torch.nn.Module, got {describe(layer)}."
        )
    model.get_submodule(layer)


def _check_contrast_inputs(kwargs: dict[str, Any]) -> None:
    for name in ("contrast_targets", "contrast_sources"):
        if kwargs.get(name) is not None:
            kwargs[name] = check_texts(name, kwargs[name])
    alignments = kwargs.get("contrast_targets_alignments")
    if alignments is None or alignments == "auto":
        return
    if not isinstance(alignments, list | tuple):
        raise InvalidArgumentTypeError(
            f"contrast_targets_alignments must be 'auto' or a list of (original, contrast) position pairs (one list "
            f"per input for batches), got {describe(alignments)}."
        )
    nested = [isinstance(item, list | tuple) and item and isinstance(item[0], list | tuple) for item in alignments]
    pairs = [p for item, deep in zip(alignments, nested) for p in (item if deep else [item])]
    for pair in pairs:
        if not (isinstance(pair, list | tuple) and len(pair) == 2 and all(type(i) is int for i in pair)):
            raise InvalidArgumentTypeError(
                f"contrast_targets_alignments pairs must be (original, contrast) pairs of ints, got {describe(pair)}."
            )


def check_attribute_flags(**flags: Any) -> None:
    """Check the boolean switches of ``attribute()`` that are not part of the request (None counts as False)."""
    for name, value in flags.items():
        if value is not None:
            check_bool(name, value)


def _is_contrastive(fn: Any) -> bool:
    if isinstance(fn, str) and fn in CONTRASTIVE_STEP_FUNCTIONS:
        return True
    try:
        return is_contrastive_step_function(fn)
    except (TypeError, ValueError):
        return False


def check_step_output(fn: Callable | str, value: Any, rows: int, attributed: bool = False) -> torch.Tensor:
    """Check a step function's result: a tensor with one value per row; non-finite values are reported.

    Raises:
        DegenerateResultError: when the result is not a tensor or does not hold ``rows`` values.

    Example:
        >>> check_step_output("probability", torch.ones(3), 3)
        tensor([1., 1., 1.])
    """
    name = fn if isinstance(fn, str) else getattr(fn, "__name__", repr(fn))
    role = "attributed function" if attributed else "step function"
    if not isinstance(value, torch.Tensor):
        raise DegenerateResultError(
            f"The {role} {name!r} returned {describe(value)}; it must return a torch.Tensor with one value per row "
            f"({rows} here)."
        )
    if value.numel() != rows:
        raise DegenerateResultError(
            f"The {role} {name!r} returned a tensor of shape {tuple(value.shape)}; it must hold one value per row, "
            f"i.e. shape ({rows},)."
        )
    if value.dtype.is_floating_point or value.dtype.is_complex:
        bad = ~torch.isfinite(value.detach())
        if bool(bad.any()):
            warnings.warn(
                f"The {role} {name!r} returned {int(bad.sum())} non-finite value(s) (NaN or inf) out of {rows}: "
                "the attributions or scores of those positions are not meaningful.",
                stacklevel=3,
            )
    return value
