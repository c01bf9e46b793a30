"""The keyword router: which consumer of an ``attribute()`` call takes each of its ``**kwargs``.

A keyword goes to every consumer whose signature names it: the attribution method (keyword-only parameters of its
``compute``), the attributed function and each step function (their parameters after the first, the
:class:`~inseq.attr.step_functions.StepFunctionArgs`), and the contrastive-input options when a contrastive step
function is in use. Keywords nobody takes are reported in inseq 0.7's "Unused arguments during attribution" warning.

Example:
    >>> routed = route_kwargs({"n_steps"}, "probability", [], {"n_steps": 10, "logprob": True})
    >>> routed.attribution_args, routed.attributed_fn_args
    ({'n_steps': 10}, {'logprob': True})
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .step_functions import CONTRAST_KWARGS, RESERVED_STEP_ARGS, get_step_function, is_contrastive_step_function

if TYPE_CHECKING:
    from .feat.base import FeatureAttribution
    from .step_functions import StepFunction


def keyword_params(fn: Callable, exclude: Sequence[str] = ()) -> set[str]:
    """Names a step function accepts as keywords (its first parameter, the step arguments, excluded).

    Example:
        >>> sorted(keyword_params(lambda args, top_p, k=1: args))
        ['k', 'top_p']
    """
    params = list(inspect.signature(fn).parameters.values())[1:]
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {p.name for p in params if p.kind in kinds} - set(RESERVED_STEP_ARGS) - set(exclude)


@dataclass
class RoutedKwargs:
    """Keyword arguments of one call, split by consumer.

    Attributes:
        attribution_args: For the method's ``compute``.
        attributed_fn_args: For the attributed function.
        step_scores_args: For each step score, by id.
        contrast_args: Contrastive-input options (``contrast_targets``, ...), when a contrastive function is used.
        unused: Keywords no consumer takes.
    """

    attribution_args: dict[str, Any] = field(default_factory=dict)
    attributed_fn_args: dict[str, Any] = field(default_factory=dict)
    step_scores_args: dict[str, dict[str, Any]] = field(default_factory=dict)
    contrast_args: dict[str, Any] = field(default_factory=dict)
    unused: dict[str, Any] = field(default_factory=dict)


def route_kwargs(
    method_params: set[str],
    attributed_fn: str | StepFunction | None,
    step_scores: Sequence[str],
    kwargs: dict[str, Any],
    exclude: Sequence[str] = (),
) -> RoutedKwargs:
    """Send each keyword to every consumer whose signature names it (``attributed_fn=None``: the method reads none).

    Example:
        >>> routed = route_kwargs(set(), None, ["top_p_size"], {"top_p": 0.9, "x": 1})
        >>> routed.step_scores_args, routed.unused
        ({'top_p_size': {'top_p': 0.9}}, {'x': 1})
    """
    routed = RoutedKwargs(step_scores_args={name: {} for name in step_scores})
    fn_params = keyword_params(get_step_function(attributed_fn), exclude) if attributed_fn is not None else set()
    step_params = {name: keyword_params(get_step_function(name), exclude) for name in step_scores}
    fns = ([attributed_fn] if attributed_fn is not None else []) + list(step_scores)
    contrastive = any(is_contrastive_step_function(f) for f in fns)
    for key, value in kwargs.items():
        used = False
        if key in method_params:
            routed.attribution_args[key], used = value, True
        if key in fn_params:
            routed.attributed_fn_args[key], used = value, True
        for name, names in step_params.items():
            if key in names:
                routed.step_scores_args[name][key], used = value, True
        if key in CONTRAST_KWARGS and contrastive:
            routed.contrast_args[key], used = value, True
        if not used:
            routed.unused[key] = value
    return routed


def warn_unused(unused: dict[str, Any], stacklevel: int = 3) -> None:
    """inseq 0.7's warning naming the keywords no consumer took (nothing when there are none)."""
    if unused:
        warnings.warn(f"Unused arguments during attribution: {sorted(unused)}.", stacklevel=stacklevel)


def extract_args(
    attribution_method: FeatureAttribution,
    attributed_fn: Callable | str,
    step_scores: Sequence[str],
    default_args: Sequence[str],
    **kwargs: Any,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """inseq 0.7's split of ``kwargs`` into the method's, the attributed function's and the step functions' arguments.

    The step functions' arguments are merged into one dictionary, as inseq 0.7 returns them.

    Example:
        >>> from inseq.attr.feat import IntegratedGradientsAttribution
        >>> extract_args(IntegratedGradientsAttribution(), "probability", [], [], n_steps=10, logprob=True)
        ({'n_steps': 10}, {'logprob': True}, {})
    """
    routed = route_kwargs(attribution_method.attribute_params(), attributed_fn, step_scores, kwargs, default_args)
    step_args = {k: v for args in routed.step_scores_args.values() for k, v in args.items()}
    warn_unused({**routed.unused, **routed.contrast_args})
    return routed.attribution_args, routed.attributed_fn_args, step_args
