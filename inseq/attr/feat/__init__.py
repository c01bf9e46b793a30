"""Feature attribution methods, one module per family (classes and family bases keep inseq 0.7's names)."""

from . import lrp_attribution  # noqa: F401  (registers the LRP methods)
from .attribution_utils import extract_args, join_token_ids
from .feature_attribution import (
    METHODS,
    DummyAttribution,
    FeatureAttribution,
    MethodResult,
    list_feature_attribution_methods,
    register_attribution_method,
)
from .gradient_attribution import (
    DeepLiftAttribution,
    GradientAttribution,
    GradientAttributionRegistry,
    GradientShapAttribution,
    InputXGradientAttribution,
    IntegratedGradientsAttribution,
    LayerDeepLiftAttribution,
    LayerGradientXActivationAttribution,
    LayerIntegratedGradientsAttribution,
    SaliencyAttribution,
)
from .internals_attribution import AttentionWeightsAttribution, InternalsAttributionRegistry, ValueZeroingAttribution
from .perturbation_attribution import LimeAttribution, OcclusionAttribution, PerturbationAttributionRegistry
from .reagent_attribution import ReagentAttribution
from .sequential_attribution import (
    DiscretizedIntegratedGradientsAttribution,
    SequentialIntegratedGradientsAttribution,
)

__all__ = [
    "METHODS",
    "AttentionWeightsAttribution",
    "DeepLiftAttribution",
    "DiscretizedIntegratedGradientsAttribution",
    "DummyAttribution",
    "FeatureAttribution",
    "GradientAttribution",
    "GradientAttributionRegistry",
    "GradientShapAttribution",
    "InputXGradientAttribution",
    "IntegratedGradientsAttribution",
    "InternalsAttributionRegistry",
    "LayerDeepLiftAttribution",
    "LayerGradientXActivationAttribution",
    "LayerIntegratedGradientsAttribution",
    "LimeAttribution",
    "MethodResult",
    "OcclusionAttribution",
    "PerturbationAttributionRegistry",
    "ReagentAttribution",
    "SaliencyAttribution",
    "SequentialIntegratedGradientsAttribution",
    "ValueZeroingAttribution",
    "extract_args",
    "join_token_ids",
    "list_feature_attribution_methods",
    "register_attribution_method",
]
