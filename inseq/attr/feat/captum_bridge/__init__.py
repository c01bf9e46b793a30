"""The Captum bridge: methods run by Captum itself on replicated inputs (DeepLIFT, gradient SHAP, layer methods)."""

from .methods import (
    CaptumAttribution,
    DeepLiftAttribution,
    GradientShapAttribution,
    LayerDeepLiftAttribution,
    LayerGradientXActivationAttribution,
    LayerIntegratedGradientsAttribution,
)

__all__ = [
    "CaptumAttribution",
    "DeepLiftAttribution",
    "GradientShapAttribution",
    "LayerDeepLiftAttribution",
    "LayerGradientXActivationAttribution",
    "LayerIntegratedGradientsAttribution",
]
