"""Feature attribution methods, one subpackage per family (the family column of ``docs/methods.md``).

``gradient`` (saliency, input x gradient and the path-integral kernel), ``path`` (integrated gradients and its
variants), ``captum_bridge`` (methods run by Captum itself), ``perturbation`` (occlusion, LIME, ReAGent and the
perturbed-forward kernel), ``internals`` (attention weights, value zeroing) and ``lrp`` (AttnLRP, CP-LRP). Importing
this package registers every method.
"""

from .base import (
    METHODS,
    DummyAttribution,
    FeatureAttribution,
    MethodResult,
    list_feature_attribution_methods,
    register_attribution_method,
)
from .captum_bridge import (
    CaptumAttribution,
    DeepLiftAttribution,
    GradientShapAttribution,
    LayerDeepLiftAttribution,
    LayerGradientXActivationAttribution,
    LayerIntegratedGradientsAttribution,
)
from .gradient import GradientAttribution, InputXGradientAttribution, SaliencyAttribution
from .internals import AttentionWeightsAttribution, InternalsAttribution, ValueZeroingAttribution
from .lrp import AttnLRPAttribution, CPLRPAttribution
from .path import (
    DiscretizedIntegratedGradientsAttribution,
    IntegratedGradientsAttribution,
    SequentialIntegratedGradientsAttribution,
)
from .perturbation import LimeAttribution, OcclusionAttribution, PerturbationAttribution, ReagentAttribution

__all__ = [
    "METHODS",
    "AttentionWeightsAttribution",
    "AttnLRPAttribution",
    "CPLRPAttribution",
    "CaptumAttribution",
    "DeepLiftAttribution",
    "DiscretizedIntegratedGradientsAttribution",
    "DummyAttribution",
    "FeatureAttribution",
    "GradientAttribution",
    "GradientShapAttribution",
    "InputXGradientAttribution",
    "IntegratedGradientsAttribution",
    "InternalsAttribution",
    "LayerDeepLiftAttribution",
    "LayerGradientXActivationAttribution",
    "LayerIntegratedGradientsAttribution",
    "LimeAttribution",
    "MethodResult",
    "OcclusionAttribution",
    "PerturbationAttribution",
    "ReagentAttribution",
    "SaliencyAttribution",
    "SequentialIntegratedGradientsAttribution",
    "ValueZeroingAttribution",
    "list_feature_attribution_methods",
    "register_attribution_method",
]
