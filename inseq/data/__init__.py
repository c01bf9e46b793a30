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
from .viz import show_attributions, show_granular_attributions, show_token_attributions

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
