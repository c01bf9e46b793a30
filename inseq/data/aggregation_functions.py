"""Aggregation functions: named reductions of attribution scores along one dimension.

Every function is an :class:`AggregationFunction` instance registered under a string id in
:data:`AGGREGATION_FUNCTIONS`, so that aggregators can be configured with plain strings (``"mean"``, ``"vnorm"``).
The module also holds the default map telling span-like aggregators how to merge each step score
(probabilities multiply, entropies add, ...).

Example:
    >>> import torch
    >>> get_aggregation_function("absmax")(torch.tensor([[1.0, -3.0, 2.0]]), dim=-1)
    tensor([-3.])
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from typing import Any

import torch

from ..utils.checks import check_call_signature, describe
from ..utils.registry import Registry

__all__ = [
    "AGGREGATION_FUNCTIONS",
    "AbsMaxAggregationFunction",
    "AggregationFunction",
    "MaxAggregationFunction",
    "MeanAggregationFunction",
    "MinAggregationFunction",
    "ProdAggregationFunction",
    "SumAggregationFunction",
    "VectorNormAggregationFunction",
    "default_aggregate_map",
    "get_aggregation_function",
    "list_aggregation_functions",
    "register_aggregation_function",
    "register_step_score_aggregation",
]


class AggregationFunction:
    """A reduction ``fn(scores, dim, **kwargs) -> Tensor`` with a registry identifier.

    Subclasses set :attr:`aggregation_function_name` and implement :meth:`__call__`.

    Attributes:
        aggregation_function_name: identifier under which the function is registered.
        takes_single_tensor: always True for built-in functions (they reduce one tensor).
        takes_sequence_scores: whether the function needs the sequence scores (False for built-ins).

    Example:
        >>> import torch
        >>> from inseq.data.aggregation_functions import AGGREGATION_FUNCTIONS
        >>> absmax = AGGREGATION_FUNCTIONS.get("absmax")
        >>> absmax.aggregation_function_name, absmax(torch.tensor([[1.0, -3.0]]), dim=-1)
        ('absmax', tensor([-3.]))
    """

    aggregation_function_name: str = ""
    takes_single_tensor: bool = True
    takes_sequence_scores: bool = False

    def __call__(self, scores: torch.Tensor, dim: int, **kwargs: Any) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class MeanAggregationFunction(AggregationFunction):
    """Arithmetic mean along ``dim`` (NaN propagates)."""

    aggregation_function_name = "mean"

    def __call__(self, scores: torch.Tensor, dim: int, **kwargs: Any) -> torch.Tensor:
        return scores.mean(dim)


class MaxAggregationFunction(AggregationFunction):
    """Maximum along ``dim``."""

    aggregation_function_name = "max"

    def __call__(self, scores: torch.Tensor, dim: int, **kwargs: Any) -> torch.Tensor:
        return scores.max(dim).values


class MinAggregationFunction(AggregationFunction):
    """Minimum along ``dim``."""

    aggregation_function_name = "min"

    def __call__(self, scores: torch.Tensor, dim: int, **kwargs: Any) -> torch.Tensor:
        return scores.min(dim).values


class SumAggregationFunction(AggregationFunction):
    """Sum along ``dim``."""

    aggregation_function_name = "sum"

    def __call__(self, scores: torch.Tensor, dim: int, **kwargs: Any) -> torch.Tensor:
        return scores.sum(dim)


class ProdAggregationFunction(AggregationFunction):
    """Product along ``dim`` (used for probabilities when merging generation steps)."""

    aggregation_function_name = "prod"

    def __call__(self, scores: torch.Tensor, dim: int, **kwargs: Any) -> torch.Tensor:
        return scores.prod(dim)


class AbsMaxAggregationFunction(AggregationFunction):
    """The value with the largest absolute value along ``dim``, sign preserved.

    NaN entries are ignored when a real value exists along ``dim``; the result is NaN only if all entries are NaN.
    """

    aggregation_function_name = "absmax"

    def __call__(self, scores: torch.Tensor, dim: int, **kwargs: Any) -> torch.Tensor:
        magnitude = scores.abs().nan_to_num(nan=-1.0)
        index = magnitude.argmax(dim=dim, keepdim=True)
        return scores.gather(dim, index).squeeze(dim)


class VectorNormAggregationFunction(AggregationFunction):
    """Vector norm along ``dim``; ``vnorm_ord`` (default 2) selects the order."""

    aggregation_function_name = "vnorm"

    def __call__(self, scores: torch.Tensor, dim: int, vnorm_ord: float = 2, **kwargs: Any) -> torch.Tensor:
        return torch.linalg.vector_norm(scores, ord=vnorm_ord, dim=dim)


AGGREGATION_FUNCTIONS: Registry[AggregationFunction] = Registry("aggregation function")
for _fn_cls in (
    MeanAggregationFunction,
    MaxAggregationFunction,
    MinAggregationFunction,
    SumAggregationFunction,
    ProdAggregationFunction,
    AbsMaxAggregationFunction,
    VectorNormAggregationFunction,
):
    AGGREGATION_FUNCTIONS.register(_fn_cls.aggregation_function_name, _fn_cls())


class _CallableAggregationFunction(AggregationFunction):
    """Wraps a user callable ``fn(scores, dim, **kwargs)`` registered with :func:`register_aggregation_function`."""

    def __init__(self, fn: Callable[..., torch.Tensor], identifier: str) -> None:
        self.fn = fn
        self.aggregation_function_name = identifier
        self.__doc__ = fn.__doc__
        try:
            params = inspect.signature(fn).parameters.values()
        except (TypeError, ValueError):
            params = []
        kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        any_keyword = not params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
        # the keywords the function accepts (None: any), so that aggregator options it does not name are not passed
        self._keywords = None if any_keyword else {p.name for p in list(params)[2:] if p.kind in kinds}

    def __call__(self, scores: torch.Tensor, dim: int, **kwargs: Any) -> torch.Tensor:
        if self._keywords is not None:
            kwargs = {k: v for k, v in kwargs.items() if k in self._keywords}
        return self.fn(scores, dim, **kwargs)


AGGREGATION_SIGNATURE = "fn(scores: Tensor, dim: int, **kwargs) -> Tensor (two positional parameters)"


def register_aggregation_function(
    fn: AggregationFunction | Callable[..., torch.Tensor], identifier: str, overwrite: bool = False
) -> None:
    """Register a custom aggregation function, usable by id in every aggregator.

    Args:
        fn: an :class:`AggregationFunction` instance or a callable ``fn(scores, dim, **kwargs) -> Tensor``.
        identifier: the id to register it under.
        overwrite: replace an existing function with the same id.

    Raises:
        ValueError: if ``identifier`` is already registered and ``overwrite`` is False.
        InvalidArgumentTypeError: if ``fn`` cannot take ``(scores, dim)`` positionally.

    Example:
        >>> register_aggregation_function(lambda s, dim, **kw: s.median(dim).values, "median", overwrite=True)
        >>> "median" in list_aggregation_functions()
        True
    """
    if not callable(fn):
        raise TypeError(f"register_aggregation_function(): fn must be callable, got {describe(fn)}.")
    name = f"register_aggregation_function(): the aggregation function for {identifier!r},"
    check_call_signature(name, fn, 2, AGGREGATION_SIGNATURE)
    if not isinstance(fn, AggregationFunction):
        fn = _CallableAggregationFunction(fn, identifier)
    AGGREGATION_FUNCTIONS.register(identifier, fn, overwrite=overwrite)


def list_aggregation_functions() -> list[str]:
    """Identifiers of all registered aggregation functions.

    Example:
        >>> list_aggregation_functions()[:3]
        ['mean', 'max', 'min']
    """
    return AGGREGATION_FUNCTIONS.keys()


def get_aggregation_function(fn: str | Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """Resolve an aggregation function id (or pass a callable through).

    Raises:
        ValueError: for an unknown id, listing the valid ones.
    """
    if callable(fn):
        return fn
    return AGGREGATION_FUNCTIONS.get(fn)


#: How span aggregation merges the step scores of inseq's built-in step functions (those absent are left unmerged).
#: Kept here, not with the step functions, so an output loaded from a file aggregates its step scores as inseq 0.7
#: does before anything imports the step functions (the face is lazy).
BUILTIN_STEP_SCORE_SPAN_RULES: dict[str, str] = {
    "probability": "prod",
    "entropy": "sum",
    "crossentropy": "sum",
    "perplexity": "prod",
    "contrast_prob": "prod",
    "contrast_prob_diff": "prod",
    "pcxmi": "sum",
    "kl_divergence": "sum",
    "mc_dropout_prob_avg": "prod",
}

# Default per-field, per-aggregator-family functions. Only span-like aggregators (family "spans") consult the
# step-score entries; the "scores" family leaves step scores unchanged. Custom step functions bring their own rules
# when they are registered (``inseq.register_step_function(..., aggregate_map=)``), through
# :func:`register_step_score_aggregation`. Sequence outputs copy this map at creation time, so later registrations
# never leak into existing objects and objects never write back into it.
_DEFAULT_AGGREGATE_MAP: dict[str, dict[str, Any]] = {
    "source_attributions": {"spans": "absmax"},
    "target_attributions": {"spans": "absmax"},
    "step_scores": {"spans": dict(BUILTIN_STEP_SCORE_SPAN_RULES)},
}


def default_aggregate_map() -> dict[str, dict[str, Any]]:
    """A deep copy of the current default aggregation map (field -> aggregator family -> function id).

    Example:
        >>> default_aggregate_map()["step_scores"]["spans"]["probability"]
        'prod'
    """
    return copy.deepcopy(_DEFAULT_AGGREGATE_MAP)


def register_step_score_aggregation(step_fn_id: str, aggregate_map: dict[str, str], overwrite: bool = False) -> None:
    """Declare how a step score is merged by each aggregator family (called by the step-function registry).

    Args:
        step_fn_id: the step function identifier, e.g. ``"probability"``.
        aggregate_map: aggregator family -> aggregation function id, e.g. ``{"spans": "prod"}``.
        overwrite: replace an existing entry for ``step_fn_id``.

    Raises:
        ValueError: if a function id is unknown, or an entry exists and ``overwrite`` is False.

    Example:
        >>> register_step_score_aggregation("my_score", {"spans": "sum"}, overwrite=True)
        >>> default_aggregate_map()["step_scores"]["spans"]["my_score"]
        'sum'
    """
    check_step_score_aggregation(step_fn_id, aggregate_map, overwrite)
    step_map = _DEFAULT_AGGREGATE_MAP["step_scores"]
    for family, fn_id in aggregate_map.items():
        step_map.setdefault(family, {})[step_fn_id] = fn_id


def check_step_score_aggregation(step_fn_id: str, aggregate_map: dict[str, Any], overwrite: bool = False) -> None:
    """Validate a step score's aggregation rules without registering them (see :func:`register_step_score_aggregation`).

    Example:
        >>> check_step_score_aggregation("my_score", {"spans": "sum"})
    """
    if not isinstance(aggregate_map, dict):
        raise TypeError(
            f"aggregate_map for {step_fn_id!r} must be a dict of aggregator family -> aggregation function id, got "
            f"{type(aggregate_map).__name__}."
        )
    step_map = _DEFAULT_AGGREGATE_MAP["step_scores"]
    for family, fn_id in aggregate_map.items():
        if not callable(fn_id) and fn_id not in AGGREGATION_FUNCTIONS:
            raise ValueError(
                f"Unknown aggregation function {fn_id!r} for step score {step_fn_id!r}. "
                f"Available: {', '.join(AGGREGATION_FUNCTIONS)}."
            )
        if step_fn_id in step_map.get(family, {}) and not overwrite:
            raise ValueError(
                f"Step score {step_fn_id!r} already has an aggregation for family {family!r}. Use overwrite=True."
            )
