"""The path family: integrated gradients and its sequential and discretized variants, on the gradient kernel."""

from .discretized import DiscretizedIntegratedGradientsAttribution
from .integrated_gradients import IntegratedGradientsAttribution
from .sequential import SequentialIntegratedGradientsAttribution

__all__ = [
    "DiscretizedIntegratedGradientsAttribution",
    "IntegratedGradientsAttribution",
    "SequentialIntegratedGradientsAttribution",
]
