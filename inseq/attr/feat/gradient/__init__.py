"""The gradient family: ``saliency`` and ``input_x_gradient``, and the path-integral kernel every gradient-based method
of the engine's fast path shares (:mod:`.kernel`)."""

from .methods import GradientAttribution, InputXGradientAttribution, SaliencyAttribution

__all__ = ["GradientAttribution", "InputXGradientAttribution", "SaliencyAttribution"]
