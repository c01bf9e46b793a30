"""``inseq.explain``: print what an identifier (method, step function, aggregator, aggregation function) does."""

from __future__ import annotations

import inspect


def _lookup(identifier: str) -> object | None:
    from .attr.feat.base import METHODS
    from .attr.step_functions import STEP_SCORES_MAP
    from .data.aggregation_functions import AGGREGATION_FUNCTIONS
    from .data.aggregator import AGGREGATORS
    from .evaluate import METRICS
    from .evaluate.source_metrics import SOURCE_METRICS

    for registry in (METHODS, STEP_SCORES_MAP, AGGREGATORS, AGGREGATION_FUNCTIONS, METRICS, SOURCE_METRICS):
        if identifier in registry:
            return registry.get(identifier)
    return None


def explain(id: str) -> None:
    """Print the documentation of a method, step function, aggregator, aggregation function or faithfulness metric.

    The lookup is live: step functions registered after import are found too (inseq 0.7 took a snapshot).

    Example:
        >>> import inseq
        >>> inseq.explain("saliency")  # doctest: +ELLIPSIS
        Saliency...
    """
    obj = _lookup(id)
    if obj is None:
        from .attr import list_feature_attribution_methods, list_step_functions
        from .data import list_aggregation_functions, list_aggregators

        known = list_feature_attribution_methods() + list_step_functions() + list_aggregators()
        known += list_aggregation_functions()
        from .evaluate import list_faithfulness_metrics

        known += list_faithfulness_metrics()
        raise ValueError(f"Unknown identifier {id!r}. Known identifiers: {', '.join(sorted(set(known)))}.")
    print(inspect.getdoc(obj) or f"{id!r} has no documentation.")
