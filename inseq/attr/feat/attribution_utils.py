"""inseq 0.7 helpers at their old path: keyword routing (``extract_args``) and token lists (``join_token_ids``)."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from ...utils.typing import TokenWithId
from ..step_functions import RESERVED_STEP_ARGS, get_step_function
from .base import FeatureAttribution

__all__ = ["extract_args", "join_token_ids"]


def _params(fn: Callable, exclude: set[str]) -> set[str]:
    params = list(inspect.signature(fn).parameters.values())[1:]
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {p.name for p in params if p.kind in kinds} - exclude


def extract_args(
    attribution_method: FeatureAttribution,
    attributed_fn: Callable | str,
    step_scores: Sequence[str],
    default_args: Sequence[str],
    **kwargs: Any,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Split ``kwargs`` into the method's, the attributed function's and the step functions' arguments.

    Keywords no one takes are reported in an "Unused arguments during attribution" warning, as in inseq 0.7.

    Example:
        >>> from inseq.attr.feat import IntegratedGradientsAttribution
        >>> extract_args(IntegratedGradientsAttribution(), "probability", [], [], n_steps=10, logprob=True)
        ({'n_steps': 10}, {'logprob': True}, {})
    """
    exclude = set(default_args) | set(RESERVED_STEP_ARGS)
    method_params = attribution_method.attribute_params()
    fn_params = _params(get_step_function(attributed_fn), exclude)
    step_params = set().union(*(_params(get_step_function(name), exclude) for name in step_scores))
    attribution_args = {k: v for k, v in kwargs.items() if k in method_params}
    attributed_fn_args = {k: v for k, v in kwargs.items() if k in fn_params}
    step_scores_args = {k: v for k, v in kwargs.items() if k in step_params}
    unused = set(kwargs) - method_params - fn_params - step_params
    if unused:
        warnings.warn(f"Unused arguments during attribution: {sorted(unused)}.", stacklevel=2)
    return attribution_args, attributed_fn_args, step_scores_args


def join_token_ids(
    tokens: Sequence[Sequence[str]],
    ids: Sequence[Sequence[int]],
    contrast_tokens: Sequence[Sequence[str]] | None = None,
    contrast_targets_alignments: Sequence[Sequence[tuple[int, int]]] | None = None,
) -> list[list[TokenWithId]]:
    """Pair tokens with their ids; where a contrastive token differs, render ``"contrast → token"`` with id -1.

    Example:
        >>> join_token_ids([["a", "b"]], [[1, 2]], contrast_tokens=[["a", "c"]])
        [[TokenWithId(token='a', id=1), TokenWithId(token='c → b', id=-1)]]
    """
    out = []
    for i, (seq_tokens, seq_ids) in enumerate(zip(tokens, ids)):
        joined = [TokenWithId(str(t), int(j)) for t, j in zip(seq_tokens, seq_ids)]
        if contrast_tokens is not None:
            pairs = contrast_targets_alignments[i] if contrast_targets_alignments else None
            mapping = dict(pairs) if pairs else {p: p for p in range(len(joined))}
            for pos, cpos in mapping.items():
                if pos < len(joined) and cpos < len(contrast_tokens[i]) and contrast_tokens[i][cpos] != joined[pos]:
                    joined[pos] = TokenWithId(f"{contrast_tokens[i][cpos]} → {joined[pos].token}", -1)
        out.append(joined)
    return out
