"""Attribution outputs, their aggregation, serialization and views."""

from .aggregation_functions import (
    AggregationFunction,
    list_aggregation_functions,
    register_aggregation_function,
    register_step_score_aggregation,
)
from .aggregator import (
    Aggregator,
    AggregatorPipeline,
    ContiguousSpanAggregator,
    PairAggregator,
    SequenceAttributionAggregator,
    SliceAggregator,
    StringSplitAggregator,
    SubwordAggregator,
    list_aggregators,
    register_aggregator,
)
from .attribution import (
    CoarseFeatureAttributionSequenceOutput,
    CoarseFeatureAttributionStepOutput,
    FeatureAttributionOutput,
    FeatureAttributionSequenceOutput,
    FeatureAttributionStepOutput,
    GranularFeatureAttributionSequenceOutput,
    GranularFeatureAttributionStepOutput,
    MultiDimensionalFeatureAttributionSequenceOutput,
    MultiDimensionalFeatureAttributionStepOutput,
    merge_attributions,
)

__all__ = [
    "AggregationFunction",
    "Aggregator",
    "AggregatorPipeline",
    "CoarseFeatureAttributionSequenceOutput",
    "CoarseFeatureAttributionStepOutput",
    "ContiguousSpanAggregator",
    "FeatureAttributionOutput",
    "FeatureAttributionSequenceOutput",
    "FeatureAttributionStepOutput",
    "GranularFeatureAttributionSequenceOutput",
    "GranularFeatureAttributionStepOutput",
    "MultiDimensionalFeatureAttributionSequenceOutput",
    "MultiDimensionalFeatureAttributionStepOutput",
    "PairAggregator",
    "SequenceAttributionAggregator",
    "SliceAggregator",
    "StringSplitAggregator",
    "SubwordAggregator",
    "list_aggregation_functions",
    "list_aggregators",
    "merge_attributions",
    "register_aggregation_function",
    "register_aggregator",
    "register_step_score_aggregation",
    "show_attributions",
    "show_granular_attributions",
    "show_token_attributions",
]


def __getattr__(name: str):
    # the views load lazily (rich, matplotlib), on first use of one of these names
    if name in ("show_attributions", "show_granular_attributions", "show_token_attributions"):
        from . import viz

        return getattr(viz, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
