"""The attribution engine, attribution methods and step functions."""

from .feat import FeatureAttribution, list_feature_attribution_methods
from .step_functions import (
    STEP_SCORES_MAP,
    StepFunctionArgs,
    StepFunctionDecoderOnlyArgs,
    StepFunctionEncoderDecoderArgs,
    get_step_function,
    get_step_scores,
    list_step_functions,
    register_step_function,
)

__all__ = [
    "STEP_SCORES_MAP",
    "FeatureAttribution",
    "StepFunctionArgs",
    "StepFunctionDecoderOnlyArgs",
    "StepFunctionEncoderDecoderArgs",
    "get_step_function",
    "get_step_scores",
    "list_feature_attribution_methods",
    "list_step_functions",
    "register_step_function",
]
