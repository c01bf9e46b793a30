"""Feature attribution methods, one module per family."""

from .feature_attribution import (
    METHODS,
    DummyAttribution,
    FeatureAttribution,
    MethodResult,
    list_feature_attribution_methods,
    register_attribution_method,
)
from .gradient_attribution import (
    GradientAttribution,
    InputXGradientAttribution,
    IntegratedGradientsAttribution,
    SaliencyAttribution,
)

__all__ = [
    "METHODS",
    "DummyAttribution",
    "FeatureAttribution",
    "GradientAttribution",
    "InputXGradientAttribution",
    "IntegratedGradientsAttribution",
    "MethodResult",
    "SaliencyAttribution",
    "list_feature_attribution_methods",
    "register_attribution_method",
]
from . import (  # noqa: F401
    internals_attribution,
    lrp_attribution,
    perturbation_attribution,
    reagent_attribution,
    sequential_attribution,
)
